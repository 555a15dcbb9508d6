from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from textfromtrack.accounts import service
from textfromtrack.accounts.schemas import AccountOut, Credentials, LoginOut, MeOut, SessionOut
from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.deps import (
    SESSION_COOKIE,
    ApiContextDep,
    ClientIp,
    CurrentWebCaller,
    OptionalWebCaller,
    SameOrigin,
    SessionDep,
    SettingsDep,
    in_connection,
)
from textfromtrack.responses import ModelResponse

router = APIRouter(prefix="/api/auth", tags=["accounts"])
v1_router = APIRouter(prefix="/api/v1", tags=["v1"])


# Cookie-authenticated changes are checked in deps.optional_web_caller; these two have no
# session yet, so only the Origin check stands between them and a forged form ("login CSRF":
# logging a victim into the attacker's account to harvest what they upload).
@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountOut,
    dependencies=[SameOrigin],
)
def register(body: Credentials, session: SessionDep, settings: SettingsDep) -> AccountOut:
    user = service.register(session, settings, body.email, body.password)
    return AccountOut(
        user_id=user.id,
        email=user.email,
        credit_balance=credits.balance(session, user.id),
        created_at=user.created_at,
    )


@router.post("/login", response_model=LoginOut, dependencies=[SameOrigin])
def login(
    body: Credentials,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    ip: ClientIp,
) -> LoginOut:
    issued = service.login(session, settings, body.email, body.password, ip)
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=_secure(request, settings),
        path="/",
    )
    return LoginOut(access_token=issued.token, expires_at=issued.expires_at)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(
    caller: OptionalWebCaller,
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> Response:
    if caller is not None:
        service.logout(session, settings, caller.token)
    out = Response(status_code=status.HTTP_204_NO_CONTENT)
    out.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request, settings)
    )
    return out


def _secure(request: Request, settings: Settings) -> bool:
    """Secure when the public address is https, or this request itself came over TLS
    (directly, or through a trusted proxy that uvicorn's proxy headers vouch for)."""
    return settings.cookie_secure or request.url.scheme == "https"


@router.get("/session", response_model=SessionOut)
def current_session(caller: CurrentWebCaller, session: SessionDep) -> SessionOut:
    return SessionOut(
        user_id=caller.user.id,
        email=caller.user.email,
        credit_balance=credits.balance(session, caller.user.id),
        expires_at=caller.session.expires_at,
    )


@v1_router.get("/me", response_model=MeOut, summary="Your profile + credit balance")
async def me(ctx: ApiContextDep) -> Response:
    caller = ctx.caller
    balance = await in_connection(ctx.db, lambda conn: credits.balance(conn, caller.user.id))
    return ModelResponse(
        MeOut(
            user_id=caller.user.id,
            email=caller.user.email,
            credit_balance=balance,
            top_up_url=ctx.settings.effective_top_up_url,
            scopes_granted=caller.scopes,
        )
    )
