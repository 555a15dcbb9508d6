from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from textfromtrack.db import Base, IdMixin, utcnow


class EntryKind(enum.StrEnum):
    GRANT = "grant"
    DEBIT = "debit"
    REFUND = "refund"


class CreditEntry(IdMixin, Base):
    """One line of the ledger; a user's balance is the sum of their amounts."""

    __tablename__ = "credit_entries"
    __table_args__ = (
        # A job is debited at most once and refunded at most once, whatever retries happen.
        UniqueConstraint("job_id", "kind", name="uq_credit_entries_job_kind"),
        CheckConstraint(
            "(kind = 'grant' AND amount > 0) OR (kind = 'debit' AND amount < 0)"
            " OR (kind = 'refund' AND amount > 0)",
            name="amount_sign",
        ),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[EntryKind] = mapped_column(
        Enum(
            EntryKind, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]
        )
    )
    amount: Mapped[int] = mapped_column(Integer)
    # No foreign key yet: the jobs table arrives with the jobs feature.
    job_id: Mapped[str | None] = mapped_column(String(36), default=None)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
