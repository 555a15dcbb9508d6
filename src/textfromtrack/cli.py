"""``tft``: the operator's command line (serve, worker, migrate, config, users, tokens, credits)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from textfromtrack.accounts import passwords
from textfromtrack.config import SECRET_KEY_FILE, Settings, mask_url
from textfromtrack.db import Database, migrate
from textfromtrack.errors import ApiError

app = typer.Typer(help="TextFromTrack: audio to timestamped text.", no_args_is_help=True)
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage personal access tokens.", no_args_is_help=True)
credits_app = typer.Typer(help="Manage the credits ledger.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(credits_app, name="credits")

out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        settings = Settings()
    except Exception as exc:  # pydantic lists every bad TFT_ variable
        err.print(f"[red]Invalid configuration:[/red] {exc}")
        raise typer.Exit(2) from exc
    # Every command that may hash a password (serve, user management) runs through here.
    passwords.use_profile(settings.password_hash_profile)
    return settings


@contextmanager
def _unit_of_work() -> Iterator[tuple[Settings, Session]]:
    """A migrated database and one transaction; domain errors become clean exits."""
    settings = _settings()
    db = Database.from_settings(settings)
    try:
        migrate(db)
        with db.session() as session:
            yield settings, session
    except ApiError as exc:
        err.print(f"[red]Error:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()


def _setup_logging(settings: Settings) -> None:
    """TFT_LOG_FORMAT lines with the job and request ids (textfromtrack.logs)."""
    from textfromtrack import logs

    logs.configure(settings.log_level, settings.log_format)


def _banner(settings: Settings, line: str) -> None:
    """The start-up line: printed for people, a log line when every line must be JSON."""
    if settings.log_format == "json":
        logging.getLogger("textfromtrack.cli").info(line)
    else:
        out.print(line)


def _check_port(host: str, port: int) -> None:
    """Exit with a clear message when ``host:port`` cannot be bound (uvicorn's own error
    comes only after the migration and the workers' start, and names no remedy)."""
    import errno
    import socket

    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # As uvicorn binds: a port in TIME_WAIT from a previous run is not "taken".
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        taken = exc.errno == errno.EADDRINUSE
        why = "address already in use" if taken else (exc.strerror or str(exc))
        err.print(
            f"tft serve: cannot listen on {host}:{port} ({why}). "
            + (
                f"Stop whatever uses it, or pick another port: tft serve --port {port + 1}, "
                f"TFT_PORT={port + 1}, or make run PORT={port + 1}."
                if taken
                else "Check TFT_HOST / --host and TFT_PORT / --port."
            ),
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default TFT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default TFT_PORT).")] = None,
) -> None:
    """Migrate the database, then run the API (and inline workers)."""
    import uvicorn

    from textfromtrack.main import create_app

    settings = _settings()
    _setup_logging(settings)
    # Before migrating or starting workers: a taken port is the commonest first failure.
    _check_port(host or settings.host, port or settings.port)
    if settings.password_hash_profile == "cheapest":  # noqa: S105 - a profile name
        logging.getLogger(__name__).warning(
            "TFT_PASSWORD_HASH_PROFILE=cheapest: password hashes are trivial to brute-force; "
            "it is meant for test suites only"
        )
    db = Database.from_settings(settings)
    migrate(db)
    # /readyz inspects the migration state on every probe; keep that out of the log.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    application = create_app(settings, db)
    _banner(
        settings,
        f"TextFromTrack on http://{host or settings.host}:{port or settings.port} "
        f"(API docs at /docs, database {db.engine.dialect.name})",
    )
    try:
        uvicorn.run(
            application,
            host=host or settings.host,
            port=port or settings.port,
            log_level=settings.log_level.lower(),
            proxy_headers=False,  # X-Forwarded-For is handled by TFT_TRUSTED_PROXIES
            # JSON lines: uvicorn's own lines (and its access log) go through ours too.
            log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        )
    finally:
        db.dispose()


@app.command()
def worker(
    processes: Annotated[
        int,
        typer.Option("--processes", "-p", min=1, help="Worker processes (each loads its models)."),
    ] = 1,
    threads: Annotated[
        int, typer.Option("--threads", "-t", min=1, help="Jobs at once per process.")
    ] = 1,
    queues: Annotated[
        list[str] | None,
        typer.Option(
            "--queues",
            "-Q",
            help="Queues to consume: standard, vintage (repeat or comma-separate; default both).",
        ),
    ] = None,
    shutdown_timeout: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds a stopping worker lets running jobs finish; an unfinished job is "
            "put back to pending by the maintenance role.",
        ),
    ] = 60.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve /metrics for all this worker's processes on this port "
            "(default TFT_WORKER_METRICS_PORT; unset: no metrics).",
        ),
    ] = None,
    metrics_host: Annotated[
        str | None,
        typer.Option(help="Interface for --metrics-port (default TFT_WORKER_METRICS_HOST)."),
    ] = None,
) -> None:
    """Run Dramatiq workers for the jobs `tft serve` sends to TFT_BROKER_URL."""
    import os
    import shutil
    import sys
    import tempfile

    settings = _settings()
    if not settings.broker_url:
        err.print("[red]TFT_BROKER_URL is not set:[/red] without a broker, `tft serve` runs jobs.")
        raise typer.Exit(2)
    port = metrics_port or settings.worker_metrics_port
    host = metrics_host or settings.worker_metrics_host
    metrics_dir: str | None = None
    if settings.metrics_enabled and port:
        _check_port_free(host, port)
        # prometheus-client's multiprocess mode: each worker process writes its counts to
        # files here and one more Dramatiq process serves their sum. Set before anything
        # imports prometheus_client (the worker processes are forked from this one).
        metrics_dir = tempfile.mkdtemp(prefix="tft-worker-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ["TFT_WORKER_METRICS_PORT"] = str(port)
        os.environ["TFT_WORKER_METRICS_HOST"] = host
    _setup_logging(settings)

    from textfromtrack.queue import routing

    names = [q.strip() for part in (queues or list(routing.QUEUES)) for q in part.split(",")]
    names = [q for q in names if q]
    for name in names:
        if name not in routing.QUEUES:
            raise typer.BadParameter(
                f"unknown queue {name!r}; choose from {', '.join(routing.QUEUES)}",
                param_hint="--queues",
            )
    # A worker fetches only as many messages as it has threads: a job takes minutes, and a
    # message waiting in a busy worker's buffer is one an idle worker cannot have.
    # Dramatiq reads this when its worker module is imported, so set it first.
    os.environ["dramatiq_queue_prefetch"] = str(threads)  # noqa: SIM112 - Dramatiq's own name
    import dramatiq.cli
    import dramatiq.worker

    dramatiq.worker.QUEUE_PREFETCH = threads
    argv = [
        "textfromtrack.queue.worker",
        "--processes",
        str(processes),
        "--threads",
        str(threads),
        "--worker-shutdown-timeout",
        str(int(shutdown_timeout * 1000)),
        "--queues",
        *(routing.broker_queue_name(settings.queue_prefix, n) for n in dict.fromkeys(names)),
    ]
    # Our logging (TFT_LOG_FORMAT, job and request ids), set up again by the worker module
    # in every worker process, rather than Dramatiq's own format.
    argv.append("--skip-logging")
    if metrics_dir is not None:
        argv += ["--fork-function", "textfromtrack.metrics.worker:serve"]
    _banner(
        settings,
        f"TextFromTrack worker: {processes} process(es) x {threads} thread(s) "
        f"on {', '.join(dict.fromkeys(names))}"
        + (f", metrics on http://{host}:{port}/metrics" if metrics_dir else ""),
    )
    parser = dramatiq.cli.make_argument_parser()  # type: ignore[no-untyped-call]
    try:
        code = dramatiq.cli.main(parser.parse_args(argv))  # type: ignore[no-untyped-call]
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    sys.exit(code)


def _check_port_free(host: str, port: int) -> None:
    """Fail now, not in a background process, when the metrics port is taken."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            err.print(f"[red]Cannot serve metrics on {host}:{port}:[/red] {exc.strerror or exc}")
            raise typer.Exit(2) from exc


@app.command("migrate")
def migrate_cmd() -> None:
    """Bring the database schema to the newest version."""
    settings = _settings()
    db = Database.from_settings(settings)
    try:
        migrate(db)
    finally:
        db.dispose()
    out.print("Database is at the newest migration.")


@app.command()
def sweep() -> None:
    """Apply the retention policy now: delete expired exports and segments, stray uploads."""
    from textfromtrack.jobs.maintenance import sweep_expired

    settings = _settings()
    db = Database.from_settings(settings)
    try:
        migrate(db)
        purged = sweep_expired(db, settings)
    finally:
        db.dispose()
    out.print(f"Retention sweep: removed the results of {len(purged)} job(s).")


@app.command()
def models(
    load: Annotated[
        bool,
        typer.Option(
            "--load/--no-load",
            help="Load each model and separator that needs no download (a few seconds).",
        ),
    ] = True,
) -> None:
    """What models and separators this instance runs, what loaded, and why not."""
    from textfromtrack.pipeline import inventory
    from textfromtrack.pipeline.engines.select import model_availability
    from textfromtrack.pipeline.separation.select import demucs_weights_available

    settings = _settings()
    resolved = inventory.resolve(settings)
    table = Table("role", "setting", "available", "why")
    for role, name in (("standard", settings.whisper_model), ("vintage", settings.vintage_model)):
        ok, why = model_availability(name)
        if role == "vintage" and not ok:
            why += f"; vintage jobs run {resolved.vintage_model}"
        if ok and load and why != "downloadable (online)":
            ok, why = _try_loading(functools.partial(_load_model, name, settings), why)
        table.add_row(role, name, "yes" if ok else "no", why)
    if settings.engine == "openai":
        # Not probed: a call would cost the remote account a transcription.
        table.add_row(
            "standard engine",
            f"openai ({settings.openai_model})",
            "remote",
            f"{mask_url(settings.openai_base_url)}; the local model runs vintage attempts",
        )
    ok, why = demucs_weights_available(settings)
    table.add_row("separator", f"demucs ({settings.demucs_model})", "yes" if ok else "no", why)
    ok, why = inventory.spleeter_installed()
    if ok and load:
        ok, why = _try_loading(_load_spleeter, why)
    table.add_row("separator", "spleeter-2stems", "yes" if ok else "no", why)
    table.add_row(
        "separator in use",
        settings.separator,
        resolved.separator or "none: music mode fails",
        resolved.separator_note,
    )
    out.print(table)


def _load_model(name: str, settings: Settings) -> None:
    from textfromtrack.pipeline.engines.select import _load

    _load(name, settings)


def _load_spleeter() -> None:
    from textfromtrack.pipeline.separation.spleeter import get_spleeter

    get_spleeter("cpu")


def _try_loading(loader: Callable[[], object], why: str) -> tuple[bool, str]:
    """(loaded, why): what `tft models` says after really loading, not after a glance."""
    try:
        loader()
    except Exception as exc:  # whatever it is, the operator needs to read it
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return False, f"failed to load: {first}"
    return True, f"loaded ({why})"


@app.command()
def config(
    env: Annotated[
        bool, typer.Option("--env", help="Only the TFT_* lines, without the explanations.")
    ] = False,
) -> None:
    """Print the effective settings as TFT_* lines that read back as the same settings.

    Unset settings and secrets are comments, so the output can be saved as an env file
    or sourced by a shell: a secret is never printed, and an unset value is never turned
    into the word None (which would read back as a literal path or URL).
    """
    settings = _settings()
    for name in Settings.model_fields:
        if not env:
            typer.echo(f"# {plain(Settings.model_fields[name].description or '')}")
        typer.echo(env_line(settings, name))


def plain(doc: str) -> str:
    """A docstring as plain text for a terminal: one line, reStructuredText marks removed."""
    import re

    text = re.sub(r":[a-z]+:`([^`]*)`", r"\1", doc)
    return " ".join(text.replace("``", "").split())


def env_line(settings: Settings, name: str) -> str:
    """One setting as ``TFT_NAME=value`` (shell-quoted), or a comment when it is unset,
    a secret, or a URL whose password is masked."""
    import shlex

    key = f"TFT_{name.upper()}"
    value = getattr(settings, name)
    if name == "secret_key" and value is None:
        return f"# {key} is unset: the key in {settings.data_dir / SECRET_KEY_FILE} is used"
    if isinstance(value, SecretStr) or name == "secret_key":
        return f"# {key}=******** (set; not shown)"
    if value is None:
        if name == "database_url":
            return f"# {key} is unset: {mask_url(settings.effective_database_url)}"
        return f"# {key} is unset"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = ",".join(str(v) for v in value)
    else:
        text = str(value)
    if isinstance(value, str) and mask_url(value) != value:
        return f"# {key}={shlex.quote(mask_url(value))} (password not shown)"
    return f"{key}={shlex.quote(text)}"


# ---------------------------------------------------------------- users


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Login email.")],
    password: Annotated[str, typer.Option(help="Password (at least TFT_PASSWORD_MIN_LENGTH).")],
    credits: Annotated[
        int | None, typer.Option(min=0, help="Starting credits (default TFT_SIGNUP_CREDITS).")
    ] = None,
) -> None:
    """Create an account."""
    from textfromtrack.accounts import service
    from textfromtrack.credits import service as ledger

    with _unit_of_work() as (settings, session):
        user = service.register(session, settings, email, password, credits)
        balance = ledger.balance(session, user.id)
    out.print(f"Created {user.email} (id {user.id}) with {balance} credits.")


@users_app.command("list")
def users_list() -> None:
    """List accounts with their balances."""
    from textfromtrack.accounts import service
    from textfromtrack.credits import service as ledger

    with _unit_of_work() as (_, session):
        table = Table("email", "id", "credits", "status", "created")
        for user in service.list_users(session):
            table.add_row(
                user.email,
                user.id,
                str(ledger.balance(session, user.id)),
                "suspended" if user.is_suspended else "active",
                user.created_at.strftime("%Y-%m-%d %H:%M"),
            )
    out.print(table)


def _set_suspended(email: str, suspended: bool) -> None:
    from textfromtrack.accounts import service

    with _unit_of_work() as (_, session):
        user = service.set_suspended(session, email, suspended)
    out.print(f"{user.email} is now {'suspended' if suspended else 'active'}.")


@users_app.command("suspend")
def users_suspend(email: str) -> None:
    """Suspend an account: its tokens and sessions stop working (403)."""
    _set_suspended(email, True)


@users_app.command("unsuspend")
def users_unsuspend(email: str) -> None:
    """Lift a suspension."""
    _set_suspended(email, False)


# ---------------------------------------------------------------- tokens


@tokens_app.command("create")
def tokens_create(
    email: Annotated[str, typer.Option(help="Owner's email.")],
    name: Annotated[str, typer.Option(help="A label to recognise the token by.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="transcriptions:read or transcriptions:write; repeat for both (default both)."
        ),
    ] = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1, max=3650)] = None,
) -> None:
    """Create a personal access token and print it once, alone on the last line."""
    from textfromtrack.accounts import service as accounts
    from textfromtrack.tokens import service

    with _unit_of_work() as (_, session):
        user = accounts.get_by_email(session, email)
        if user is None:
            raise typer.BadParameter(f"no account with email {email!r}", param_hint="--email")
        created = service.create(session, user, name, scope or None, expires_in_days)
    err.print(f"Token {created.record.name!r} for {user.email}; it is shown only now:")
    typer.echo(created.plaintext)


# ---------------------------------------------------------------- credits


@credits_app.command("grant")
def credits_grant(
    email: str,
    amount: Annotated[int, typer.Argument(min=1, help="Credits to add.")],
    note: Annotated[str, typer.Option(help="Why, for the ledger.")] = "operator grant",
) -> None:
    """Add credits to an account through the ledger."""
    from textfromtrack.accounts import service as accounts
    from textfromtrack.credits import service

    with _unit_of_work() as (_, session):
        user = accounts.get_by_email(session, email)
        if user is None:
            raise typer.BadParameter(f"no account with email {email!r}", param_hint="EMAIL")
        service.grant(session, user.id, amount, note)
        balance = service.balance(session, user.id)
    out.print(f"Granted {amount} credits to {user.email}; balance is now {balance}.")
