"""Request dependencies as ``Annotated`` aliases: settings, DB session, the caller."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from textfromtrack.accounts import service as accounts
from textfromtrack.accounts.models import User, WebSession
from textfromtrack.config import Settings
from textfromtrack.db import Database, utcnow
from textfromtrack.errors import ApiError, Forbidden, Unauthorized
from textfromtrack.intake import UploadSlots
from textfromtrack.queue.base import Dispatcher
from textfromtrack.tokens import format as token_format
from textfromtrack.tokens import service as tokens
from textfromtrack.tokens.models import ApiToken
from textfromtrack.web import csrf

T = TypeVar("T")

SESSION_COOKIE = "tft_session"

pat_scheme = HTTPBearer(
    scheme_name="PersonalAccessToken",
    description="A personal access token, `tft_pat_…`, from Account → API tokens. "
    "Only /api/v1/* accepts it.",
    auto_error=False,
)
web_bearer_scheme = HTTPBearer(
    scheme_name="WebSession",
    description="The access_token returned by POST /api/auth/login (a JWT). "
    "Only /api/auth/* and the web app accept it.",
    auto_error=False,
)
web_cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="WebSessionCookie",
    description="The HttpOnly cookie set by POST /api/auth/login.",
    auto_error=False,
)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


async def get_upload_slots(request: Request) -> UploadSlots:
    slots: UploadSlots = request.app.state.upload_slots
    return slots


async def get_auth_cache(request: Request) -> AuthCache:
    cache: AuthCache = request.app.state.auth_cache
    return cache


SettingsDep = Annotated[Settings, Depends(get_settings)]
AuthCacheDep = Annotated["AuthCache", Depends(get_auth_cache)]
UploadSlotsDep = Annotated[UploadSlots, Depends(get_upload_slots)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_session(db: DatabaseDep) -> AsyncIterator[Session]:
    """The request's unit of work: committed when the handler returns, else rolled back.

    Opening the session takes no connection (it is checked out at the first query,
    in the handler's thread). Ending it, which returns the connection to the pool,
    runs on threads of its own (``_ENDINGS``): with a sync generator FastAPI would run
    the commit on the same thread pool as the handlers, so under load every thread
    could be a handler waiting for a pooled connection while the commits that would
    free those connections wait for a thread, and the service stalls until the pool
    times out (0 req/s at 64 pollers, measured before this).
    """
    session = db.sessionmaker()
    try:
        yield session
    except ApiError as exc:
        await _end(session, commit=exc.keeps_changes)
        raise
    except BaseException:
        await _end(session, commit=False)
        raise
    else:
        await _end(session, commit=True)


# Threads that only end request sessions; created on first use, in the event loop.
_ENDINGS: list[anyio.CapacityLimiter] = []
SESSION_ENDING_THREADS = 16


async def _end(session: Session, *, commit: bool) -> None:
    def finish() -> None:
        try:
            if commit:
                session.commit()
            else:
                session.rollback()
        finally:
            session.close()

    if not _ENDINGS:
        _ENDINGS.append(anyio.CapacityLimiter(SESSION_ENDING_THREADS))
    # Shielded: a client that hangs up must not leave a connection checked out.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(finish, limiter=_ENDINGS[0])


async def in_session(db: Database, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one unit of work on one of the database's read threads: the
    connection is checked out and returned within that one call. The hot read paths
    use it (or ``in_connection``), so a request costs one thread hop and can never hold
    a connection while it waits for a thread."""

    def run() -> T:
        with db.session() as session:
            return work(session)

    return await _on_read_thread(db, run)


async def in_connection(db: Database, work: Callable[[Connection], T]) -> T:
    """``in_session`` for reads made of Core statements on a bare connection
    (``Database.reading``): the poll, the list and /me."""

    def run() -> T:
        with db.reading() as connection:
            return work(connection)

    return await _on_read_thread(db, run)


async def _on_read_thread(db: Database, run: Callable[[], T]) -> T:
    loop = asyncio.get_running_loop()
    held = _READS.get(db)
    if held is None or held[0] is not loop:
        held = _READS[db] = (loop, anyio.CapacityLimiter(db.read_threads))
    return await anyio.to_thread.run_sync(run, limiter=held[1])


# Each database's own read threads (Database.read_threads), made in its event loop on
# first use (a test client runs the same app in several loops one after another); weak,
# so a test's discarded app takes its limiter with it.
_READS: weakref.WeakKeyDictionary[
    Database, tuple[asyncio.AbstractEventLoop, anyio.CapacityLimiter]
] = weakref.WeakKeyDictionary()


# Function scope: the commit happens before the response is sent, so a failed
# commit is a 500 and never a success the database does not hold.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def client_ip(request: Request, settings: Settings) -> str:
    """The socket peer, or X-Forwarded-For's nearest untrusted hop behind trusted proxies."""
    peer = request.client.host if request.client else "unknown"
    if not settings.trusted_proxies or not _is_trusted(peer, settings.trusted_proxies):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    # Walk from the right: the last hop not added by one of our proxies is the client.
    for hop in reversed(hops):
        if not _is_trusted(hop, settings.trusted_proxies):
            return hop
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; match them as IPv4.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for entry in trusted:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


async def _client_ip(request: Request, settings: SettingsDep) -> str:
    # Pure and quick: resolved on the event loop rather than on a pool thread.
    return client_ip(request, settings)


ClientIp = Annotated[str, Depends(_client_ip)]


# ---------------------------------------------------------------- web sessions


@dataclass(frozen=True)
class WebCaller:
    user: User
    session: WebSession
    token: str
    # True when the session came from the cookie, which a browser attaches on its own:
    # only then can the request be forged by another site, so only then is CSRF checked.
    via_cookie: bool = False

    def csrf_token(self, settings: Settings) -> str:
        return csrf.token_for(settings.effective_secret_key, self.session.id)


def _web_token(
    bearer: HTTPAuthorizationCredentials | None, cookie: str | None, request: Request
) -> str | None:
    if request.headers.get("authorization"):
        # An Authorization header decides on its own; a PAT there is not a session.
        return bearer.credentials if bearer is not None else None
    return cookie


def web_caller_for(
    session: Session, settings: Settings, token: str | None, via_cookie: bool
) -> WebCaller | None:
    """The live web session behind ``token``, or None (no token, not a JWT, ended)."""
    if not token or not accounts.looks_like_jwt(token):
        return None
    resolved = accounts.resolve_session(session, settings, token)
    if resolved is None:
        return None
    return WebCaller(user=resolved[0], session=resolved[1], token=token, via_cookie=via_cookie)


def optional_web_caller(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(web_bearer_scheme)],
    cookie: Annotated[str | None, Depends(web_cookie_scheme)],
) -> WebCaller | None:
    via_cookie = not request.headers.get("authorization")
    token = _web_token(bearer, cookie, request)
    # Resolved in a transaction of its own, so the handler (an upload, say) does not hold a
    # connection from here on; the rows are read-only facts of the caller from now on.
    with db.session() as session:
        caller = web_caller_for(session, settings, token, via_cookie)
    if caller is None:
        return None
    if via_cookie and request.method not in csrf.SAFE_METHODS:
        # A Bearer header is never attached by a browser on its own, so those callers
        # (scripts, the API's clients) skip both checks.
        same_origin_only(request, settings)
        if not csrf.token_valid(
            settings.effective_secret_key, caller.session.id, request.headers.get(csrf.HEADER)
        ):
            raise Forbidden(
                "This request lacks the page's security token. Reload the page and try again.",
                details={"reason": "csrf_token_missing_or_wrong"},
            )
    return caller


def same_origin_only(request: Request, settings: SettingsDep) -> None:
    """Refuse unsafe requests that a browser says come from another site (see web.csrf)."""
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if not csrf.request_origin_allowed(
        request.method,
        request.headers.get("origin"),
        request.headers.get("referer"),
        (own, settings.public_base_url),
    ):
        raise Forbidden(
            "Cross-site request refused: use this site's own pages.",
            details={"reason": "cross_origin"},
        )


# For the forms that have no session to bind a token to yet (sign-up, login).
SameOrigin = Depends(same_origin_only)


async def web_caller(
    caller: Annotated[WebCaller | None, Depends(optional_web_caller)],
) -> WebCaller:
    if caller is None:
        raise Unauthorized("Sign in first: this endpoint needs a web session, not an API token.")
    if caller.user.is_suspended:
        raise Forbidden("This account is suspended.")
    return caller


OptionalWebCaller = Annotated[WebCaller | None, Depends(optional_web_caller)]
CurrentWebCaller = Annotated[WebCaller, Depends(web_caller)]


# ---------------------------------------------------------------- personal access tokens


@dataclass(frozen=True)
class ApiCaller:
    user: User
    token: ApiToken

    @property
    def scopes(self) -> list[str]:
        return self.token.scope_list


def _authenticate(db: Database, plaintext: str) -> ApiCaller | None:
    # A short transaction of its own (the token look-up and, at most once a minute, its
    # last_used_at), committed before the handler runs: an upload that streams for a
    # minute must not hold a pooled connection, nor a SQLite write lock, all that time.
    with db.session() as session:
        found = tokens.authenticate(session, plaintext)
    return None if found is None else ApiCaller(user=found[1], token=found[0])


async def _resolve_api_caller(
    request: Request, db: Database, bearer: HTTPAuthorizationCredentials | None
) -> ApiCaller:
    if bearer is None:
        raise Unauthorized("Send a personal access token: Authorization: Bearer tft_pat_…")
    invalid = Unauthorized("The access token is invalid, expired or revoked.")
    if not token_format.is_well_formed(bearer.credentials):
        raise invalid  # checksum: no thread, no query
    cache: AuthCache = request.app.state.auth_cache
    key = token_format.digest(bearer.credentials)
    caller = cache.get(key)
    if caller is None:
        caller = await cache.look_up(
            key, lambda: run_in_threadpool(_authenticate, db, bearer.credentials)
        )
        if caller is None:
            raise invalid
    elif not tokens.is_active(caller.token, utcnow()):
        cache.forget(key)
        raise invalid
    if caller.user.is_suspended:
        raise Forbidden("This account is suspended.")
    return caller


async def api_caller(
    request: Request,
    db: DatabaseDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(pat_scheme)],
) -> ApiCaller:
    return await _resolve_api_caller(request, db, bearer)


class AuthCache:
    """Tokens authenticated in the last ``ttl`` seconds, by digest, in this process.

    A client polling a job, fetching its segments and downloading three formats in a
    row, or a burst of uploads from one token, costs one token look-up rather than one
    per request (and no thread hop at all once cached). A revocation made through this
    process clears it at once; one made elsewhere (another server, `tft users suspend`)
    takes effect within ``ttl`` (TFT_AUTH_CACHE_SECONDS; 0 turns the cache off).

    Requests that miss together share one look-up (``look_up``): a burst of a thousand
    uploads from one new token used to arrive before the first look-up had finished, so
    every one of them queried the database, and a normal client's upload waited behind
    a thousand queries (14 s in CI's parallel suite; the slot check that refuses them
    costs no query at all).
    """

    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[str, tuple[float, ApiCaller]] = {}
        self._lock = threading.Lock()
        # Look-ups in flight, by digest; each belongs to the event loop that started it.
        self._pending: dict[str, asyncio.Future[ApiCaller | None]] = {}
        # Bumped by clear(): a look-up that began before a revocation must not put what
        # it read back into the cache after it.
        self._generation = 0

    async def look_up(
        self, key: str, load: Callable[[], Awaitable[ApiCaller | None]]
    ) -> ApiCaller | None:
        """The caller behind ``key`` from ``load``, run once for all who ask meanwhile."""
        loop = asyncio.get_running_loop()
        pending = self._pending.get(key)
        if pending is None or pending.get_loop() is not loop:
            pending = loop.create_task(self._load(key, load, self._generation))
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._settled(key, done))
        # Shielded: one waiter hanging up must not cancel the look-up the others share.
        return await asyncio.shield(pending)

    async def _load(
        self, key: str, load: Callable[[], Awaitable[ApiCaller | None]], generation: int
    ) -> ApiCaller | None:
        caller = await load()
        if caller is not None and generation == self._generation:
            self.put(key, caller)
        return caller

    def _settled(self, key: str, done: asyncio.Future[ApiCaller | None]) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]
        if not done.cancelled():
            done.exception()  # raised to every waiter; retrieved here in case none is left

    def get(self, key: str) -> ApiCaller | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() - entry[0] > self.ttl:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: str, caller: ApiCaller) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # a bound, not an LRU: refilling costs one query each
            self._entries[key] = (time.monotonic(), caller)

    def forget(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._generation += 1


CurrentApiCaller = Annotated[ApiCaller, Depends(api_caller)]


def _require(caller: ApiCaller, scope: str | None) -> None:
    if scope is not None and scope not in caller.scopes:
        raise Forbidden(f"This token lacks the {scope} scope.", details={"required_scope": scope})


def require_scope(scope: str) -> Callable[[ApiCaller], Awaitable[ApiCaller]]:
    """A dependency that lets the call through only when the token holds ``scope``."""

    async def check(caller: CurrentApiCaller) -> ApiCaller:
        _require(caller, scope)
        return caller

    check.__name__ = f"require_{scope.replace(':', '_')}"
    return check


ReadCaller = Annotated[ApiCaller, Depends(require_scope(tokens.SCOPE_READ))]
WriteCaller = Annotated[ApiCaller, Depends(require_scope(tokens.SCOPE_WRITE))]


@dataclass(frozen=True)
class ApiContext:
    """A /api/v1 read's caller, database and settings, from one dependency.

    FastAPI spends tens of microseconds on each dependency it solves; the caller, its
    scope check, the database and the settings were six of them, a quarter of a poll's
    CPU. The hot reads that every client repeats every 2 s take this one instead.
    """

    caller: ApiCaller
    db: Database
    settings: Settings

    @property
    def user_id(self) -> str:
        return self.caller.user.id


def api_context(scope: str | None) -> Callable[..., Awaitable[ApiContext]]:
    """The dependency giving an ``ApiContext`` whose token holds ``scope`` (None: any)."""

    async def resolve(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(pat_scheme)],
    ) -> ApiContext:
        state = request.app.state
        caller = await _resolve_api_caller(request, state.db, bearer)
        _require(caller, scope)
        return ApiContext(caller=caller, db=state.db, settings=state.settings)

    resolve.__name__ = f"api_context_{(scope or 'any').replace(':', '_')}"
    return resolve


ApiContextDep = Annotated[ApiContext, Depends(api_context(None))]
ReadContext = Annotated[ApiContext, Depends(api_context(tokens.SCOPE_READ))]
