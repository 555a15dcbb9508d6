"""``tft-client``: transcribe audio files and manage jobs from a shell.

Results go to stdout (``--json`` makes them machine-readable); progress, logs and
errors go to stderr, one line per error, and the exit status says what kind of
failure it was (see ``EXIT_CODES``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from textfromtrack_client.client import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_WAIT_TIMEOUT,
    TextFromTrack,
    __version__,
)
from textfromtrack_client.errors import (
    ConnectionFailed,
    Forbidden,
    Gone,
    InsufficientCredits,
    InternalError,
    JobFailed,
    NotFound,
    RateLimited,
    TextFromTrackError,
    Unauthorized,
    UnexpectedResponse,
    ValidationError,
    WaitTimeout,
)
from textfromtrack_client.models import FORMATS, Job, JobStatus, Submission

log = logging.getLogger("textfromtrack_client.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_CREDITS = 4
EXIT_RATE_LIMITED = 5
EXIT_VALIDATION = 6
EXIT_NOT_FOUND = 7
EXIT_SERVER = 8
EXIT_TIMEOUT = 9
EXIT_INTERRUPTED = 130

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_FAILED: "a job ended in error or was cancelled, or another failure",
    EXIT_USAGE: "bad command line",
    EXIT_AUTH: "authentication: missing, unknown, expired or revoked token; or no permission",
    EXIT_CREDITS: "not enough credits (the message names the top-up page)",
    EXIT_RATE_LIMITED: "rate limited: too many active jobs, and no slot freed in time",
    EXIT_VALIDATION: "the input was refused: unsupported or unreadable file, too long, bad option",
    EXIT_NOT_FOUND: "no such job, or its exports expired",
    EXIT_SERVER: "server error or server unreachable",
    EXIT_TIMEOUT: "--timeout passed before the job finished (it keeps running on the server)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C); submitted jobs keep running on the server",
}


def exit_code_for(exc: BaseException) -> int:
    """The exit status for an error; with several files, the first failure's decides."""
    if isinstance(exc, Unauthorized | Forbidden):
        return EXIT_AUTH
    if isinstance(exc, InsufficientCredits):
        return EXIT_CREDITS
    if isinstance(exc, RateLimited):
        return EXIT_RATE_LIMITED
    if isinstance(exc, ValidationError | FileNotFoundError | IsADirectoryError):
        return EXIT_VALIDATION
    if isinstance(exc, NotFound | Gone):
        return EXIT_NOT_FOUND
    if isinstance(exc, WaitTimeout):
        return EXIT_TIMEOUT
    if isinstance(exc, InternalError | ConnectionFailed | UnexpectedResponse):
        return EXIT_SERVER
    if isinstance(exc, TextFromTrackError) and exc.status is not None and exc.status >= 500:
        return EXIT_SERVER
    return EXIT_FAILED


def describe(exc: BaseException) -> str:
    """One line that says what went wrong and, where there is one, what to do."""
    if isinstance(exc, TextFromTrackError):
        text = f"{exc.code}: {exc.message}"
        if isinstance(exc, InsufficientCredits) and exc.top_up_url:
            text += f" Top up at {exc.top_up_url}"
        elif isinstance(exc, RateLimited) and exc.retry_after is not None:
            text += f" (retry after {exc.retry_after:g} s)"
        elif isinstance(exc, ValidationError) and exc.fields:
            text += " [" + "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) + "]"
        elif isinstance(exc, WaitTimeout):
            text += f" Check later: tft-client status {exc.job.job_id}"
        elif isinstance(exc, Unauthorized) and exc.status is not None:
            text += " Check TFT_TOKEN (a tft_pat_... token from Account > API tokens)."
        if exc.request_id and (exc.status or 0) >= 500:
            text += f" (request id {exc.request_id})"
    elif isinstance(exc, KeyboardInterrupt):
        text = "interrupted"
    elif isinstance(exc, OSError):
        text = f"{exc.strerror or type(exc).__name__}: {exc.filename or exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


# ---------------------------------------------------------------- output


class Output:
    """Where each kind of output goes: results to stdout, everything else to stderr."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        # A pipe has no width; 80 columns would cut job ids out of tables.
        self.out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
        self.err = Console(stderr=True, highlight=False)

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()

    def line(self, text: str) -> None:
        self.out.print(text, markup=False, soft_wrap=True)

    def note(self, text: str) -> None:
        """A line on stderr, never wrapped: scripts grep these."""
        self.err.print(text, markup=False, highlight=False, soft_wrap=True)

    def error(self, exc: BaseException, prefix: str = "") -> None:
        self.note(f"tft-client: error: {prefix}{describe(exc)}")


class _ConsoleHandler(logging.Handler):
    """Logs through rich's console, so lines print above live progress bars, not into them."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(
                f"tft-client: {record.levelname.lower()}: {self.format(record)}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        except Exception:
            self.handleError(record)


def _setup_logging(console: Console, verbose: bool) -> None:
    package = logging.getLogger("textfromtrack_client")
    package.handlers[:] = [_ConsoleHandler(console)]
    package.setLevel(logging.INFO if verbose else logging.WARNING)
    package.propagate = False


def error_json(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, TextFromTrackError):
        return {
            "code": exc.code,
            "message": exc.message,
            "details": exc.details,
            "status": exc.status,
        }
    code = "interrupted" if isinstance(exc, KeyboardInterrupt) else "local_error"
    return {"code": code, "message": describe(exc), "details": {}, "status": None}


# ---------------------------------------------------------------- transcribe


class _Stopped(Exception):
    """Raised inside a worker thread when the user pressed Ctrl-C."""


@dataclass
class FileResult:
    path: Path
    job_id: str | None = None
    job: Job | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    error: BaseException | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "job_id": self.job_id,
            "status": self.job.status if self.job else ("failed" if self.error else None),
            "outputs": {fmt: str(p) for fmt, p in self.outputs.items()},
            "job": self.job.raw if self.job else None,
            "error": error_json(self.error) if self.error else None,
        }


def log_attempts(label: str, job: Job) -> None:
    """The attempts log in words: what ran, how long, and why a retry happened."""
    for attempt in job.attempts_log:
        reasons = attempt.quality.get("reasons") or []
        separator = f", vocals separated by {attempt.separator}" if attempt.separator else ""
        seconds = f"{attempt.seconds:.1f} s" if attempt.seconds is not None else "? s"
        log.info(
            "%s: attempt %d: %s pipeline, %s %s%s, %s, verdict %s%s",
            label,
            attempt.number,
            attempt.pipeline or "?",
            attempt.engine or "?",
            attempt.model or "?",
            separator,
            seconds,
            attempt.verdict or "?",
            f" ({', '.join(map(str, reasons))})" if reasons else "",
        )
    if job.retried_with_vocal_separation:
        log.info(
            "%s: the standard transcript was judged poor, so it was retried with vocal "
            "separation; the result is the better of %d attempts (model %s)",
            label,
            job.attempts,
            job.model,
        )
    if job.degraded:
        log.warning("%s: the transcript is still flagged as poor quality", label)


def _submit_when_slot_free(
    client: TextFromTrack,
    path: Path,
    args: argparse.Namespace,
    deadline: float,
    stop: threading.Event,
    show: Callable[[str], None],
) -> Submission:
    # A 429 at submission means admission refused the job, so nothing was created or
    # charged and sending the file again is safe; the library never does this on its own.
    while True:
        try:
            return client.submit(
                path, pinyin=args.pinyin, vintage=args.vintage, language=args.language
            )
        except RateLimited as exc:
            pause = exc.retry_after if exc.retry_after is not None else 5.0
            if time.monotonic() + pause > deadline:
                raise
            log.info("%s: %s; trying again in %g s", path.name, exc.message, pause)
            show("waiting for a job slot")
            if stop.wait(pause):
                raise _Stopped from None


def _write_atomic(target: Path, data: bytes) -> None:
    # A reader (a music player watching the folder) never sees half a file.
    partial = target.with_name(f".{target.name}.part")
    partial.write_bytes(data)
    partial.replace(target)


def cmd_transcribe(client: TextFromTrack, args: argparse.Namespace, ui: Output) -> int:
    paths = [Path(p) for p in args.files]
    for path in paths:
        if not path.is_file():
            ui.error(FileNotFoundError(2, "No such file", str(path)))
            return EXIT_VALIDATION
    stems: dict[str, Path] = {}
    for path in paths:
        if path.stem in stems:
            ui.note(
                f"tft-client: error: {stems[path.stem]} and {path} would both be written as "
                f"{path.stem}.<format>; rename one"
            )
            return EXIT_USAGE
        stems[path.stem] = path
    formats = list(dict.fromkeys(args.formats or ["lrc"]))
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)

    results = [FileResult(path) for path in paths]
    stop = threading.Event()
    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[status]}", markup=False),
        TimeElapsedColumn(),
        console=ui.err,
        disable=ui.as_json,
    )
    tasks = [progress.add_task(p.name, total=1.0, status="queued") for p in paths]

    def run(index: int) -> None:
        result, task = results[index], tasks[index]
        path = result.path

        def show(status: str, completed: float | None = None) -> None:
            progress.update(task, status=status, completed=completed)

        def on_update(job: Job) -> None:
            if stop.is_set():
                raise _Stopped
            show(job.status, job.progress)

        deadline = time.monotonic() + args.timeout
        try:
            show("uploading")
            submission = _submit_when_slot_free(client, path, args, deadline, stop, show)
            result.job_id = submission.job_id
            label = f"{path.name} ({submission.job_id})"
            log.info(
                "%s: submitted, %.1f s of audio, %d credit quoted%s",
                label,
                submission.duration_seconds,
                submission.credits_quoted,
                ", vintage mode" if submission.vintage_mode else "",
            )
            show(submission.status, 0.0)
            job = client.wait(
                submission.job_id,
                timeout=max(0.0, deadline - time.monotonic()),
                poll_interval=args.poll_interval,
                on_update=on_update,
            )
            result.job = job
            log_attempts(label, job)
            show("downloading", 1.0)
            for fmt in formats:
                target = out_dir / f"{path.stem}.{fmt}"
                _write_atomic(target, client.export(job.job_id, fmt))
                result.outputs[fmt] = target
            show("done", 1.0)
        except _Stopped:
            result.error = KeyboardInterrupt()
            show("interrupted")
        except WaitTimeout as exc:
            result.job, result.error = exc.job, exc
            show(f"still {exc.job.status} at --timeout")
        except JobFailed as exc:
            result.job, result.error = exc.job, exc
            show(exc.job.status)
        except (TextFromTrackError, OSError) as exc:
            result.error = exc
            show(f"failed: {getattr(exc, 'code', type(exc).__name__)}")

    pool = ThreadPoolExecutor(max_workers=max(1, args.concurrency), thread_name_prefix="tft")
    interrupted = False
    with progress:
        futures: list[Future[None]] = []
        # Submitting inside the try: a Ctrl-C that lands between the first upload's start
        # and the wait must still stop the workers, or the interpreter's exit would wait
        # for their jobs to finish.
        try:
            futures.extend(pool.submit(run, i) for i in range(len(paths)))
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            interrupted = True
            stop.set()
        finally:
            # Workers notice `stop` within one poll interval; queued files never start.
            pool.shutdown(wait=True, cancel_futures=True)

    if ui.as_json:
        ui.json([r.to_json() for r in results])
    for result in results:
        if result.error is None and result.outputs and not ui.as_json:
            ui.line(f"{result.path} -> " + ", ".join(str(p) for p in result.outputs.values()))
        elif result.error is not None and not isinstance(result.error, KeyboardInterrupt):
            ui.error(result.error, prefix=f"{result.path}: ")
    if interrupted:
        running = [r.job_id for r in results if r.job_id and r.job is None]
        ui.note(
            "tft-client: interrupted"
            + (f"; these jobs keep running: {', '.join(running)}" if running else "")
        )
        return EXIT_INTERRUPTED
    for result in results:
        if result.error is not None:
            return exit_code_for(result.error)
    return EXIT_OK


# ---------------------------------------------------------------- the other commands


def _job_lines(job: Job) -> list[str]:
    lines = [
        f"job:        {job.job_id}",
        f"status:     {job.status}"
        + (f" ({job.progress:.0%})" if job.status == JobStatus.PROCESSING else ""),
        f"file:       {job.filename} ({job.duration_seconds:.1f} s)",
    ]
    if job.language:
        lines.append(f"language:   {job.language}")
    if job.status == JobStatus.DONE:
        lines += [
            f"segments:   {job.segment_count}",
            f"model:      {job.model}"
            + (", vocal separation" if job.vocal_separation_used else "")
            + (", degraded" if job.degraded else ""),
            f"attempts:   {job.attempts}",
            f"runtime:    {job.runtime_seconds} s",
        ]
    if job.error:
        lines.append(f"error:      {job.error}")
    lines.append(f"credits:    {job.credits_charged}")
    if job.exports_expire_at:
        lines.append(f"expires:    {job.exports_expire_at.isoformat()}")
    return lines


def cmd_status(client: TextFromTrack, args: argparse.Namespace, ui: Output) -> int:
    job = client.get(args.job_id)
    if ui.as_json:
        ui.json(job.raw)
    else:
        for line in _job_lines(job):
            ui.line(line)
        log_attempts(job.job_id, job)
    return EXIT_OK


def cmd_jobs(client: TextFromTrack, args: argparse.Namespace, ui: Output) -> int:
    if args.all:
        jobs = list(client.iter_jobs(status=args.status))
        total, header = len(jobs), f"{len(jobs)} jobs"
        page_info: dict[str, Any] = {}
    else:
        page = client.list(page=args.page, per_page=args.per_page, status=args.status)
        jobs, total = list(page.transcriptions), page.total
        pages = max(1, -(-page.total // page.per_page))
        header = f"page {page.page} of {pages}, {page.total} jobs"
        page_info = {"page": page.page, "per_page": page.per_page}
    if ui.as_json:
        ui.json({**page_info, "total": total, "transcriptions": [j.raw for j in jobs]})
        return EXIT_OK
    table = Table(box=None, pad_edge=False)
    for name in ("ID", "STATUS", "FILE", "LANG", "SECONDS", "CREATED"):
        table.add_column(name, no_wrap=name in {"ID", "STATUS"})
    for job in jobs:
        table.add_row(
            job.job_id,
            job.status,
            job.filename,
            job.language or "",
            f"{job.duration_seconds:.1f}",
            job.created_at.strftime("%Y-%m-%d %H:%M") if job.created_at else "",
        )
    ui.out.print(table)
    ui.note(header)
    return EXIT_OK


def cmd_download(client: TextFromTrack, args: argparse.Namespace, ui: Output) -> int:
    data = client.export(args.job_id, args.format)
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return EXIT_OK
    target = Path(args.output) if args.output else Path.cwd()
    if target.is_dir():
        # Name it after the uploaded file, as the web app's download does.
        stem = Path(client.get(args.job_id).filename).stem or args.job_id
        target = target / f"{stem}.{args.format}"
    _write_atomic(target, data)
    if ui.as_json:
        ui.json(
            {"job_id": args.job_id, "format": args.format, "path": str(target), "bytes": len(data)}
        )
    else:
        ui.line(str(target))
    return EXIT_OK


def cmd_cancel(client: TextFromTrack, args: argparse.Namespace, ui: Output) -> int:
    job = client.delete(args.job_id)
    if ui.as_json:
        ui.json(job.raw)
    else:
        spent = (
            "credit refunded"
            if job.credits_charged == 0
            else f"{job.credits_charged} credit spent, not refunded"
        )
        ui.line(f"{job.job_id}: {job.status} ({spent})")
    return EXIT_OK


def cmd_me(client: TextFromTrack, args: argparse.Namespace, ui: Output) -> int:
    me = client.me()
    if ui.as_json:
        ui.json(me.raw)
    else:
        ui.line(f"account:  {me.email}")
        ui.line(f"credits:  {me.credit_balance}")
        ui.line(f"top up:   {me.top_up_url}")
        ui.line(f"scopes:   {', '.join(me.scopes_granted)}")
    return EXIT_OK


# ---------------------------------------------------------------- parsing


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {value}")
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return number


def _common_options(parser: argparse.ArgumentParser, default: Any) -> None:
    # Registered on the main parser and on every subcommand, so they work on either side
    # of it; the subcommands' copies default to SUPPRESS to not overwrite the main ones.
    parser.add_argument(
        "--token",
        default=default,
        help="API token (default: $TFT_TOKEN; prefer the variable: arguments show in ps)",
    )
    parser.add_argument(
        "--base-url",
        default=default,
        help="API base URL (default: $TFT_BASE_URL or http://127.0.0.1:8000/api/v1)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="machine-readable output on stdout (errors too)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="log requests' retries and each job's attempts to stderr",
    )


def build_parser() -> argparse.ArgumentParser:
    epilog = "exit codes:\n" + "\n".join(
        f"  {code:>3}  {text}" for code, text in EXIT_CODES.items()
    )
    parser = argparse.ArgumentParser(
        prog="tft-client",
        description="Turn audio into synced lyrics, subtitles or text with a TextFromTrack server.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common_options(parser, None)
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            parents=[common],
            help=help,
            description=help,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = command("transcribe", "transcribe audio files and write <stem>.<format> for each")
    p.add_argument("files", nargs="+", metavar="FILE", help=".mp3, .wav, .flac, ...")
    p.add_argument(
        "-f",
        "--format",
        dest="formats",
        action="append",
        choices=FORMATS,
        help="export format; repeat for several (default: lrc)",
    )
    p.add_argument("-o", "--output", default=".", metavar="DIR", help="folder to write into")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--pinyin", action="store_true", help="annotate Chinese with pinyin")
    mode.add_argument(
        "--vintage", action="store_true", help="music / old recordings: vocal separation first"
    )
    p.add_argument("--language", metavar="xx", help="ISO 639-1 code; skips detection")
    p.add_argument(
        "--timeout",
        type=_positive,
        default=DEFAULT_WAIT_TIMEOUT,
        metavar="S",
        help="seconds to wait for each file, including waiting for a free job slot "
        f"(default {DEFAULT_WAIT_TIMEOUT:g})",
    )
    p.add_argument(
        "--concurrency",
        type=_count,
        default=2,
        metavar="N",
        help="files in flight at once (default 2: the per-account limit of active jobs)",
    )
    p.add_argument(
        "--poll-interval",
        type=_positive,
        default=DEFAULT_POLL_INTERVAL,
        metavar="S",
        help=f"seconds between status polls (default {DEFAULT_POLL_INTERVAL:g})",
    )
    p.set_defaults(handler=cmd_transcribe)

    p = command("status", "show a job's status and metadata")
    p.add_argument("job_id", metavar="ID")
    p.set_defaults(handler=cmd_status)

    p = command("jobs", "list your jobs, newest first")
    p.add_argument("--status", choices=[s.value for s in JobStatus], help="only this status")
    p.add_argument("--page", type=_count, default=1)
    p.add_argument("--per-page", type=_count, default=50)
    p.add_argument("--all", action="store_true", help="every page")
    p.set_defaults(handler=cmd_jobs)

    p = command("download", "download one export of a done job")
    p.add_argument("job_id", metavar="ID")
    p.add_argument("-f", "--format", required=True, choices=FORMATS)
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="file or folder to write (default: <uploaded name>.<format> here; - for stdout)",
    )
    p.set_defaults(handler=cmd_download)

    p = command("cancel", "cancel a job (a pending one is refunded) or delete a done one")
    p.add_argument("job_id", metavar="ID")
    p.set_defaults(handler=cmd_cancel)

    p = command("me", "your account and credit balance")
    p.set_defaults(handler=cmd_me)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ui = Output(args.json)
    _setup_logging(ui.err, args.verbose)
    try:
        with TextFromTrack(args.token, args.base_url) as client:
            code: int = args.handler(client, args, ui)
            return code
    except KeyboardInterrupt:
        ui.note("tft-client: interrupted")
        return EXIT_INTERRUPTED
    except (TextFromTrackError, OSError) as exc:
        if ui.as_json:
            ui.json({"error": error_json(exc)})
        ui.error(exc)
        return exit_code_for(exc)


if __name__ == "__main__":
    sys.exit(main())
