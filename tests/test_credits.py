"""The ledger: grant, debit, refund; balance derived; one debit and one refund per job."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from textfromtrack.accounts import service as accounts
from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.credits.models import CreditEntry, EntryKind
from textfromtrack.db import Database
from textfromtrack.errors import ValidationFailed


@pytest.fixture
def user_id(database: Database, settings: Settings) -> str:
    with database.session() as s:
        return accounts.register(s, settings, "ledger@example.com", "long enough password").id


def test_signup_grant_is_a_ledger_entry(database: Database, user_id: str) -> None:
    with database.session() as s:
        entries = s.scalars(select(CreditEntry).where(CreditEntry.user_id == user_id)).all()
        assert [(e.kind, e.amount, e.note) for e in entries] == [(EntryKind.GRANT, 10, "signup")]
        assert credits.balance(s, user_id) == 10


def test_debit_and_refund_are_idempotent_per_job(database: Database, user_id: str) -> None:
    with database.session() as s:
        first = credits.debit_for_job(s, user_id, "job-1")
        again = credits.debit_for_job(s, user_id, "job-1")
        assert first.id == again.id
        assert credits.balance(s, user_id) == 9
        assert credits.is_charged(s, "job-1")
        refund = credits.refund_for_job(s, "job-1")
        assert refund is not None and refund.amount == 1
        assert (
            credits.refund_for_job(s, "job-1") is refund
            or credits.refund_for_job(s, "job-1").id == refund.id
        )  # type: ignore[union-attr]
        assert credits.balance(s, user_id) == 10
        assert not credits.is_charged(s, "job-1")
        assert credits.refund_for_job(s, "never-charged") is None


def test_charged_jobs_answers_for_a_whole_page_at_once(database: Database, user_id: str) -> None:
    with database.session() as s:
        credits.debit_for_job(s, user_id, "kept")
        credits.debit_for_job(s, user_id, "refunded")
        credits.refund_for_job(s, "refunded")
        asked = ["kept", "refunded", "never-charged"]
        assert credits.charged_jobs(s, asked) == {"kept"}
        assert credits.charged_jobs(s, []) == set()
        assert [credits.is_charged(s, j) for j in asked] == [True, False, False]


def test_database_refuses_a_second_debit_for_one_job(database: Database, user_id: str) -> None:
    with pytest.raises(IntegrityError), database.session() as s:
        s.add(CreditEntry(user_id=user_id, kind=EntryKind.DEBIT, amount=-1, job_id="job-x"))
        s.add(CreditEntry(user_id=user_id, kind=EntryKind.DEBIT, amount=-1, job_id="job-x"))
        s.flush()


@pytest.mark.parametrize(
    ("kind", "amount"), [(EntryKind.DEBIT, 1), (EntryKind.GRANT, -5), (EntryKind.REFUND, -1)]
)
def test_database_refuses_wrong_signs(
    database: Database, user_id: str, kind: EntryKind, amount: int
) -> None:
    with pytest.raises(IntegrityError), database.session() as s:
        s.add(CreditEntry(user_id=user_id, kind=kind, amount=amount, job_id="job-y"))
        s.flush()


@pytest.mark.parametrize("amount", [0, -3])
def test_grant_must_be_positive(database: Database, user_id: str, amount: int) -> None:
    with pytest.raises(ValidationFailed), database.session() as s:
        credits.grant(s, user_id, amount)


def test_balance_is_the_sum_of_entries(database: Database, user_id: str) -> None:
    with database.session() as s:
        credits.grant(s, user_id, 5, "promo")
        for n in range(3):
            credits.debit_for_job(s, user_id, f"job-{n}")
        credits.refund_for_job(s, "job-1")
        total = sum(
            e.amount for e in s.scalars(select(CreditEntry).where(CreditEntry.user_id == user_id))
        )
        assert credits.balance(s, user_id) == total == 10 + 5 - 3 + 1
