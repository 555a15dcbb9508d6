"""The credits ledger. The balance is always derived from the entries, never stored."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, Connection, and_, bindparam, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from textfromtrack.credits.models import CreditEntry, EntryKind
from textfromtrack.db import begin_write
from textfromtrack.errors import ValidationFailed

JOB_COST = 1


# Built once: /me runs it on every call, and building, coercing and hashing a select
# cost several times the query itself.
_BALANCE = select(func.coalesce(func.sum(CreditEntry.amount), 0)).where(
    CreditEntry.user_id == bindparam("user_id")
)


def balance(db: Session | Connection, user_id: str) -> int:
    return int(db.execute(_BALANCE, {"user_id": user_id}).scalar() or 0)


def grant(session: Session, user_id: str, amount: int, note: str = "") -> CreditEntry:
    if amount <= 0:
        raise ValidationFailed("A grant must be a positive number of credits.")
    begin_write(session)
    entry = CreditEntry(user_id=user_id, kind=EntryKind.GRANT, amount=amount, note=note[:200])
    session.add(entry)
    session.flush()
    return entry


def _job_entry(session: Session, job_id: str, kind: EntryKind) -> CreditEntry | None:
    return session.scalar(
        select(CreditEntry).where(CreditEntry.job_id == job_id, CreditEntry.kind == kind)
    )


def debit_for_job(
    session: Session, user_id: str, job_id: str, amount: int = JOB_COST
) -> CreditEntry:
    """Charge a job. Idempotent: a second call returns the existing debit.

    The caller checks the balance in the same (locked) transaction; the unique
    (job_id, kind) constraint makes a double debit impossible even so.
    """
    existing = _job_entry(session, job_id, EntryKind.DEBIT)
    if existing is not None:
        return existing
    entry = CreditEntry(
        user_id=user_id, kind=EntryKind.DEBIT, amount=-amount, job_id=job_id, note="job"
    )
    session.add(entry)
    session.flush()
    return entry


def refund_for_job(session: Session, job_id: str) -> CreditEntry | None:
    """Give back a job's debit. Idempotent; None when the job was never charged."""
    debit = _job_entry(session, job_id, EntryKind.DEBIT)
    if debit is None:
        return None
    existing = _job_entry(session, job_id, EntryKind.REFUND)
    if existing is not None:
        return existing
    entry = CreditEntry(
        user_id=debit.user_id,
        kind=EntryKind.REFUND,
        amount=-debit.amount,
        job_id=job_id,
        note="refund",
    )
    session.add(entry)
    session.flush()
    return entry


def charged_jobs(session: Session, job_ids: Collection[str]) -> set[str]:
    """The jobs among ``job_ids`` that hold a debit that was not refunded.

    One query for a whole page of jobs: the app polls its job list every few seconds.
    """
    if not job_ids:
        return set()
    rows = session.execute(
        select(CreditEntry.job_id, CreditEntry.kind).where(
            CreditEntry.job_id.in_(job_ids),
            CreditEntry.kind.in_((EntryKind.DEBIT, EntryKind.REFUND)),
        )
    )
    debited: set[str] = set()
    refunded: set[str] = set()
    for job_id, kind in rows:
        (debited if kind == EntryKind.DEBIT else refunded).add(job_id)
    return debited - refunded


def charged_column(job_id: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[bool]:
    """``charged_jobs`` as a column of a job query: a debit and no refund for ``job_id``.

    Selected beside the job's own columns, so a poll or a page of jobs is one query
    (both EXISTS probes use the ledger's unique (job_id, kind) index)."""

    def entry(kind: EntryKind) -> ColumnElement[bool]:
        return (
            select(CreditEntry.id)
            .where(CreditEntry.job_id == job_id, CreditEntry.kind == kind)
            .exists()
        )

    return and_(entry(EntryKind.DEBIT), ~entry(EntryKind.REFUND))


def is_charged(session: Session, job_id: str) -> bool:
    """True when the job holds a debit that was not refunded."""
    return job_id in charged_jobs(session, (job_id,))
