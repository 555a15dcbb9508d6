"""Personal access tokens: create (plaintext once), list, revoke, authenticate."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from textfromtrack.accounts.models import User
from textfromtrack.db import begin_write, updated, utcnow
from textfromtrack.errors import ValidationFailed
from textfromtrack.tokens import format as token_format
from textfromtrack.tokens.models import ApiToken

SCOPE_READ = "transcriptions:read"
SCOPE_WRITE = "transcriptions:write"
ALL_SCOPES = (SCOPE_READ, SCOPE_WRITE)
MAX_EXPIRY_DAYS = 3650
# Writing last_used_at on every request would make each API call a write.
LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedToken:
    record: ApiToken
    plaintext: str


def normalise_scopes(scopes: list[str] | None) -> list[str]:
    if scopes is None:
        return list(ALL_SCOPES)
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ValidationFailed(
            f"Unknown scope: {', '.join(unknown)}. Known scopes: {', '.join(ALL_SCOPES)}.",
            details={"fields": {"scopes": f"must be among {', '.join(ALL_SCOPES)}"}},
        )
    if not scopes:
        raise ValidationFailed(
            "A token needs at least one scope.", details={"fields": {"scopes": "must not be empty"}}
        )
    return [s for s in ALL_SCOPES if s in scopes]


def create(
    session: Session,
    user: User,
    name: str,
    scopes: list[str] | None = None,
    expires_in_days: int | None = None,
) -> CreatedToken:
    clean_name = name.strip()
    if not clean_name or len(clean_name) > 100:
        raise ValidationFailed(
            "A token needs a name of 1 to 100 characters.",
            details={"fields": {"name": "1 to 100 characters"}},
        )
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise ValidationFailed(
            f"expires_in_days must be between 1 and {MAX_EXPIRY_DAYS}.",
            details={"fields": {"expires_in_days": f"between 1 and {MAX_EXPIRY_DAYS}"}},
        )
    granted = normalise_scopes(scopes)
    begin_write(session)
    plaintext = token_format.generate()
    now = utcnow()
    record = ApiToken(
        user_id=user.id,
        name=clean_name,
        token_hash=token_format.digest(plaintext),
        last_four=plaintext[-4:],
        scopes=" ".join(granted),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(record)
    session.flush()
    return CreatedToken(record=record, plaintext=plaintext)


def list_for_user(session: Session, user_id: str) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def revoke(session: Session, user_id: str, token_id: str) -> None:
    """Idempotent, and silent about tokens that are not the caller's."""
    begin_write(session)
    record = session.get(ApiToken, token_id)
    if record is not None and record.user_id == user_id and record.revoked_at is None:
        record.revoked_at = utcnow()


def is_active(record: ApiToken, now: datetime) -> bool:
    return record.revoked_at is None and (record.expires_at is None or record.expires_at > now)


def authenticate(session: Session, plaintext: str) -> tuple[ApiToken, User] | None:
    """The live token and its owner, or None. Malformed tokens never reach the database."""
    if not token_format.is_well_formed(plaintext):
        return None
    wanted = token_format.digest(plaintext)
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == wanted))
    if record is None or not hmac.compare_digest(record.token_hash, wanted):
        return None
    now = utcnow()
    if not is_active(record, now):
        return None
    user = session.get(User, record.user_id)
    if user is None:
        return None
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_GRANULARITY:
        _touch_last_used(session, record, now)
    return record, user


def _touch_last_used(session: Session, record: ApiToken, now: datetime) -> None:
    begin_write(session)
    # Conditional, so concurrent requests with one token write it once a minute at most.
    updated(
        session,
        update(ApiToken)
        .where(
            ApiToken.id == record.id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at <= now - LAST_USED_GRANULARITY,
            ),
        )
        .values(last_used_at=now),
    )
    session.refresh(record)
