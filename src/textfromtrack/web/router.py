"""The app's pages: server-rendered with Jinja2 (autoescaped), behaviour in static/*.js.

Pages only read; every change goes through /api/web or /api/auth from the page's
scripts, which carry the CSRF token from the page's <meta> tag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from textfromtrack import __version__
from textfromtrack.config import Settings
from textfromtrack.credits import service as credits
from textfromtrack.deps import OptionalWebCaller, SessionDep, SettingsDep, WebCaller
from textfromtrack.errors import NotFound
from textfromtrack.exports import formats
from textfromtrack.jobs import service
from textfromtrack.media.formats import ALLOWED_EXTENSIONS
from textfromtrack.pipeline import inventory
from textfromtrack.web.api import web_job

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)

# The languages offered in the upload form; the API takes any Whisper language code.
LANGUAGES = (
    ("ar", "Arabic"),
    ("zh", "Chinese (Mandarin)"),
    ("yue", "Cantonese"),
    ("nl", "Dutch"),
    ("en", "English"),
    ("fr", "French"),
    ("de", "German"),
    ("hi", "Hindi"),
    ("id", "Indonesian"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("ru", "Russian"),
    ("es", "Spanish"),
    ("sv", "Swedish"),
    ("th", "Thai"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("vi", "Vietnamese"),
)


def safe_next(value: str | None, default: str = "/app") -> str:
    """Where to go after login: only a path on this site, never another origin.

    "//evil.example" and "/\\evil.example" are read by browsers as other hosts, and
    a scheme ("https:", "javascript:") is never a local path.
    """
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ch in value for ch in "\r\n\t\\") or ":" in value.split("?", 1)[0]:
        return default
    return value


def public_origin(request: Request, settings: Settings) -> str:
    """The address users reach this instance at: TFT_PUBLIC_BASE_URL when the operator set
    it, else the one this request came in on (right for a local run with no settings)."""
    if "public_base_url" in settings.model_fields_set:
        return settings.public_base_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def render(
    request: Request,
    name: str,
    caller: WebCaller | None,
    settings: Settings,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {
            "user": caller.user if caller else None,
            "csrf_token": caller.csrf_token(settings) if caller else None,
            "version": __version__,
            **context,
        },
        status_code=status_code,
    )


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, caller: OptionalWebCaller, settings: SettingsDep) -> Response:
    return render(request, "index.html", caller, settings, signup_credits=settings.signup_credits)


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, caller: OptionalWebCaller, settings: SettingsDep, next: str | None = None
) -> Response:
    if caller is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _auth_page(request, settings, "login", next)


@router.get("/signup", response_class=HTMLResponse)
def signup_page(
    request: Request, caller: OptionalWebCaller, settings: SettingsDep, next: str | None = None
) -> Response:
    if caller is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _auth_page(request, settings, "signup", next)


def _auth_page(request: Request, settings: Settings, mode: str, next: str | None) -> Response:
    return render(
        request,
        "auth.html",
        None,
        settings,
        mode=mode,
        next=safe_next(next),
        active=mode,
        password_min_length=settings.password_min_length,
    )


@router.get("/app", response_class=HTMLResponse)
def app_page(
    request: Request, caller: OptionalWebCaller, session: SessionDep, settings: SettingsDep
) -> Response:
    if caller is None:
        return _login_redirect(request)
    return render(
        request,
        "app.html",
        caller,
        settings,
        active="app",
        accept=",".join(ALLOWED_EXTENSIONS) + ",audio/*",
        formats=", ".join(ALLOWED_EXTENSIONS),
        languages=LANGUAGES,
        retention_days=f"{settings.export_retention_days:g}",
        balance=credits.balance(session, caller.user.id),
    )


@router.get("/app/jobs/{job_id}", response_class=HTMLResponse)
def job_page(
    job_id: str,
    request: Request,
    caller: OptionalWebCaller,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    if caller is None:
        return _login_redirect(request)
    try:
        job = service.get_for_user(session, caller.user.id, job_id)
    except NotFound:
        return render(
            request,
            "error.html",
            caller,
            settings,
            status_code=404,
            heading="Transcription not found",
            message="It does not exist, or it belongs to another account.",
        )
    return render(
        request,
        "job.html",
        caller,
        settings,
        active="app",
        job=web_job(session, settings, job),
        formats=formats.FORMATS,
        balance=credits.balance(session, caller.user.id),
    )


@router.get("/app/account", response_class=HTMLResponse)
def account_page(
    request: Request, caller: OptionalWebCaller, session: SessionDep, settings: SettingsDep
) -> Response:
    if caller is None:
        return _login_redirect(request)
    return render(
        request,
        "account.html",
        caller,
        settings,
        active="account",
        balance=credits.balance(session, caller.user.id),
        top_up_url=settings.top_up_url,
    )


@router.get("/developers", response_class=HTMLResponse)
def developers_page(request: Request, caller: OptionalWebCaller, settings: SettingsDep) -> Response:
    origin = public_origin(request, settings)
    # What this instance really runs (cheap: no weights loaded), as `tft models` says.
    resolved = inventory.resolve(settings)
    return render(
        request,
        "developers.html",
        caller,
        settings,
        active="developers",
        api=f"{origin}/api/v1",
        other_formats=", ".join(
            e for e in ALLOWED_EXTENSIONS if e not in {".mp3", ".wav", ".flac"}
        ),
        separator=inventory.SEPARATOR_NAMES.get(resolved.separator or ""),
        separator_note=resolved.separator_note,
        vintage_model=resolved.vintage_model,
        vintage_fallback=resolved.vintage_model != settings.vintage_model,
        vintage_note=resolved.vintage_note,
        retention_days=f"{settings.export_retention_days:g}",
        per_user=settings.max_active_jobs_per_user,
        per_ip=settings.max_active_jobs_per_ip,
        signup_credits=settings.signup_credits,
        top_up_url=settings.effective_top_up_url,
        top_up_set=settings.top_up_url is not None,
    )
