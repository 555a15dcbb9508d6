"""Accounts: registration, login with throttling, web sessions (JWT + session row)."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from textfromtrack.accounts.models import LoginThrottle, User, WebSession
from textfromtrack.accounts.passwords import (
    burn_verification_time,
    hash_password,
    needs_rehash,
    verify_password,
)
from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.db import begin_write, utcnow
from textfromtrack.errors import Forbidden, RateLimited, Unauthorized, ValidationFailed

JWT_ALGORITHM = "HS256"
SESSION_AUDIENCE = "tft-web"
# Same words for an unknown email and a wrong password: no account enumeration.
BAD_CREDENTIALS = "Incorrect email or password."
MAX_PASSWORD_LENGTH = 1024
# An IP gets more tries than one email, since several people may share it.
IP_FAILURE_FACTOR = 4
# The first delay once an (account, address) pair reaches its limit; it doubles from there.
LOCKOUT_BASE_SECONDS = 2


def normalise_email(raw: str) -> str:
    try:
        info = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(
            "Enter a valid email address.", details={"fields": {"email": str(exc)}}
        ) from exc
    return info.normalized.lower()


def login_address(raw: str) -> str:
    """The e-mail as sign-up stored it, so whatever sign-up accepted, login finds.

    An address sign-up would refuse cannot belong to an account; it is kept (trimmed and
    lower-cased) only so that the failure still counts against something.
    """
    try:
        return normalise_email(raw)
    except ValidationFailed:
        return unicodedata.normalize("NFC", raw.strip()).lower()


def check_password_policy(password: str, settings: Settings) -> None:
    if len(password) < settings.password_min_length:
        raise ValidationFailed(
            f"Password must be at least {settings.password_min_length} characters.",
            details={"fields": {"password": f"at least {settings.password_min_length} characters"}},
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            "Password is too long.",
            details={"fields": {"password": f"at most {MAX_PASSWORD_LENGTH} characters"}},
        )


def get_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def register(
    session: Session, settings: Settings, email: str, password: str, credits_: int | None = None
) -> User:
    """Create an account and grant its starting credits through the ledger."""
    address = normalise_email(email)
    check_password_policy(password, settings)
    password_hash = hash_password(password)  # slow on purpose: before taking the write lock
    begin_write(session)
    if get_by_email(session, address) is not None:
        raise ValidationFailed(
            "This email cannot be used to register.",
            details={"fields": {"email": "already registered"}},
        )
    user = User(email=address, password_hash=password_hash)
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # lost a race with a concurrent registration
        raise ValidationFailed(
            "This email cannot be used to register.",
            details={"fields": {"email": "already registered"}},
        ) from exc
    amount = settings.signup_credits if credits_ is None else credits_
    if amount > 0:
        credits.grant(session, user.id, amount, note="signup")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.created_at, User.email)))


def set_suspended(session: Session, email: str, suspended: bool) -> User:
    begin_write(session)
    user = get_by_email(session, email)
    if user is None:
        raise ValidationFailed(f"No account with email {email!r}.")
    user.is_suspended = suspended
    if suspended:
        session.execute(
            update(WebSession)
            .where(WebSession.user_id == user.id, WebSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return user


# ---------------------------------------------------------------- login throttling


def _throttle_rows(session: Session, keys: list[str]) -> dict[str, LoginThrottle]:
    rows = session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
    return {row.key: row for row in rows}


def _check_throttle(session: Session, keys: list[str], now: datetime) -> None:
    for row in _throttle_rows(session, keys).values():
        if row.locked_until is not None and row.locked_until > now:
            wait = int((row.locked_until - now).total_seconds()) + 1
            raise RateLimited(
                "Too many failed sign-in attempts. Try again later.", retry_after=wait
            )


def _limits(settings: Settings) -> dict[str, int]:
    return {
        "acct": settings.login_max_failures,
        "ip": settings.login_max_failures * IP_FAILURE_FACTOR,
    }


def throttle_keys(address: str, client_ip: str) -> list[str]:
    """Failed logins count per (account, client address) and per client address.

    Never per account alone: then anyone who knows an e-mail address could keep its
    owner locked out from everywhere by failing five times from anywhere.
    """
    return [f"acct:{address[:300]}|{client_ip[:64]}", f"ip:{client_ip[:64]}"]


def lockout_delay(failures: int, limit: int, cap_seconds: int) -> int:
    """Seconds a key stays locked after its ``failures``-th failure in the window.

    Nothing below ``limit``; then a delay that doubles with each further failure, from
    LOCKOUT_BASE_SECONDS up to ``cap_seconds``: a typo costs a moment, a guessing
    script soon waits the full lockout for every try.
    """
    if failures < limit:
        return 0
    return int(min(cap_seconds, LOCKOUT_BASE_SECONDS * 2 ** min(failures - limit, 30)))


def record_failure(session: Session, settings: Settings, keys: list[str], now: datetime) -> None:
    window = timedelta(seconds=settings.login_lockout_seconds)
    rows = _throttle_rows(session, keys)
    for key in keys:
        row = rows.get(key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_started_at=now)
            session.add(row)
        if now - row.window_started_at > window:
            row.failures, row.window_started_at, row.locked_until = 0, now, None
        row.failures += 1
        kind = key.split(":", 1)[0]
        if kind == "ip":
            # The address-wide limit stays a plain lockout: it stops one source spraying
            # many accounts, and it only ever locks out that source.
            if row.failures >= _limits(settings)[kind]:
                row.locked_until = now + window
            continue
        delay = lockout_delay(row.failures, _limits(settings)[kind], settings.login_lockout_seconds)
        if delay:
            row.locked_until = now + timedelta(seconds=delay)


def _clear_failures(session: Session, email_key: str) -> None:
    row = session.get(LoginThrottle, email_key)
    if row is not None:
        session.delete(row)


@dataclass(frozen=True)
class IssuedSession:
    user: User
    token: str
    expires_at: datetime


class LoginFailed(Unauthorized):
    """Wrong credentials. The failure counter it recorded is committed all the same."""

    keeps_changes = True


def login(
    session: Session, settings: Settings, email: str, password: str, client_ip: str
) -> IssuedSession:
    now = utcnow()
    address = login_address(email)
    keys = throttle_keys(address, client_ip)
    _check_throttle(session, keys, now)
    user = get_by_email(session, address)
    if user is None:
        burn_verification_time(password)
        ok = False
    else:
        ok = verify_password(user.password_hash, password)
    # Password checks above ran without the write lock; counters and sessions need it.
    begin_write(session)
    if not ok or user is None:
        record_failure(session, settings, keys, now)
        raise LoginFailed(BAD_CREDENTIALS)
    if user.is_suspended:
        raise Forbidden("This account is suspended.")
    _clear_failures(session, keys[0])
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return issue_session(session, settings, user, now)


def issue_session(
    session: Session, settings: Settings, user: User, now: datetime | None = None
) -> IssuedSession:
    now = now or utcnow()
    expires = now + timedelta(hours=settings.session_ttl_hours)
    row = WebSession(
        id=secrets.token_urlsafe(24), user_id=user.id, created_at=now, expires_at=expires
    )
    session.add(row)
    claims = {
        "sub": user.id,
        "sid": row.id,
        "aud": SESSION_AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    token = jwt.encode(claims, settings.effective_secret_key, algorithm=JWT_ALGORITHM)
    return IssuedSession(user=user, token=token, expires_at=expires)


def _decode(settings: Settings, token: str) -> dict[str, object] | None:
    try:
        claims: dict[str, object] = jwt.decode(
            token,
            settings.effective_secret_key,
            algorithms=[JWT_ALGORITHM],
            audience=SESSION_AUDIENCE,
            options={"require": ["sub", "sid", "exp", "aud"]},
        )
    except jwt.PyJWTError:
        return None
    return claims


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def resolve_session(
    session: Session, settings: Settings, token: str
) -> tuple[User, WebSession] | None:
    """The user and session behind a web JWT, or None when it is not a live session."""
    claims = _decode(settings, token)
    if claims is None:
        return None
    row = session.get(WebSession, claims["sid"])
    now = utcnow()
    if (
        row is None
        or row.user_id != claims["sub"]
        or row.revoked_at is not None
        or row.expires_at <= now
    ):
        return None
    user = session.get(User, row.user_id)
    if user is None:
        return None
    return user, row


def logout(session: Session, settings: Settings, token: str) -> None:
    begin_write(session)
    resolved = resolve_session(session, settings, token)
    if resolved is not None:
        resolved[1].revoked_at = utcnow()


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0
