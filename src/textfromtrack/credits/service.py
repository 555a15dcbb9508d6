"""The credits ledger. The balance is always derived from the entries, never stored."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from textfromtrack.credits.models import CreditEntry, EntryKind
from textfromtrack.db import begin_write
from textfromtrack.errors import ValidationFailed

JOB_COST = 1


def balance(session: Session, user_id: str) -> int:
    total = session.scalar(
        select(func.coalesce(func.sum(CreditEntry.amount), 0)).where(CreditEntry.user_id == user_id)
    )
    return int(total or 0)


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


def is_charged(session: Session, job_id: str) -> bool:
    """True when the job holds a debit that was not refunded."""
    return (
        _job_entry(session, job_id, EntryKind.DEBIT) is not None
        and _job_entry(session, job_id, EntryKind.REFUND) is None
    )
