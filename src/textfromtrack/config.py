"""Settings: one class, read from the environment with the ``TFT_`` prefix.

Every field has a docstring; ``tft config`` prints them with secrets masked.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# argon2-cffi's parameter profiles (accounts/passwords.py maps them).
PasswordHashProfile = Literal["rfc9106-low-memory", "rfc9106-high-memory", "cheapest"]

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TFT_", env_file=None, extra="ignore", use_attribute_docstrings=True
    )

    data_dir: Path = Path("./data")
    """Folder for the SQLite database, uploads, exports, model cache and generated secret key."""

    storage_url: str | None = None
    """Where uploads and kept audio live: unset, the data dir; a local folder (or
    ``file:///path``); or ``s3://bucket/prefix`` for a fleet, with ``TFT_S3_ENDPOINT_URL``
    for a store other than AWS and the standard AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
    and AWS_DEFAULT_REGION variables (read by boto3, never by these settings)."""

    s3_endpoint_url: str | None = None
    """S3 API address of a store other than AWS (SeaweedFS, MinIO, Ceph), e.g.
    ``http://127.0.0.1:8333``; buckets are then addressed by path. Unset: AWS itself."""

    database_url: str | None = None
    """SQLAlchemy URL. Unset: SQLite ``tft.db`` in the data dir. PostgreSQL: postgresql+psycopg://..."""

    secret_key: SecretStr | None = None
    """Signs web-session JWTs. Unset: generated once and kept in ``<data dir>/secret_key``."""

    signup_credits: int = Field(default=10, ge=0)
    """Credits granted to every new account (through the ledger)."""

    top_up_url: str | None = None
    """Where users buy more credits; returned as ``top_up_url`` by /api/v1/me and in 402
    errors. Unset: this instance's own account page (TFT_PUBLIC_BASE_URL + /app/account),
    where the app then shows no top-up link: credits come from ``tft credits grant``."""

    public_base_url: str = "http://127.0.0.1:8000"
    """The address users reach the service at; an https URL also marks the session cookie Secure."""

    host: str = "127.0.0.1"
    """Interface ``tft serve`` binds to."""

    port: int = Field(default=8000, ge=1, le=65535)
    """Port ``tft serve`` listens on."""

    session_ttl_hours: int = Field(default=24 * 7, ge=1)
    """Lifetime of a web session (login JWT and cookie)."""

    password_min_length: int = Field(default=10, ge=8)
    """Shortest password accepted at registration."""

    password_hash_profile: PasswordHashProfile = "rfc9106-low-memory"  # noqa: S105 - a name
    """argon2id parameters for new password hashes (argon2-cffi's profiles): the default is
    the library's own (64 MiB, 3 passes); high-memory is 2 GiB, 1 pass. ``cheapest`` is
    for test suites only: such hashes are trivial to brute-force. Existing hashes are
    upgraded at their next login."""

    login_max_failures: int = Field(default=5, ge=1)
    """Failed logins for one email (4x this for one IP) within the window before a lockout."""

    login_lockout_seconds: int = Field(default=900, ge=1)
    """Window for counting failed logins, and how long login stays throttled after it trips."""

    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Proxy addresses or CIDR ranges (comma-separated) whose X-Forwarded-For is believed."""

    db_pool_size: int = Field(default=10, ge=1, le=1000)
    """Database connections kept open per process (requests hold one only briefly)."""

    db_max_overflow: int = Field(default=20, ge=0, le=1000)
    """Extra connections a burst may open beyond ``db_pool_size``."""

    db_pool_timeout_seconds: float = Field(default=30, gt=0)
    """How long a request waits for a free connection before failing."""

    sqlite_busy_timeout_seconds: float = Field(default=30, gt=0)
    """How long a SQLite writer waits for the write lock before giving up."""

    max_concurrent_uploads: int = Field(default=32, ge=1, le=10000)
    """Uploads one ``tft serve`` receives at once; beyond it, 429 before the body is read.
    One account (one address) may have at most its active-job limit of them in flight."""

    upload_timeout_seconds: float = Field(default=300, gt=0)
    """Deadline for receiving a whole upload; a slower client gets 408 and loses its slot."""

    auth_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    """How long this process trusts a token it has just checked (0: check on every request).
    A token revoked through another server, or a user suspended by ``tft users suspend``,
    is refused at most this much later here."""

    openai_wait_seconds: float = Field(default=600, gt=0)
    """How long ``/v1/audio/*`` waits for its job before answering 504 (the job goes on;
    its id is in the message, for ``/api/v1``)."""

    log_level: str = "INFO"
    """Python logging level for the service."""

    log_format: Literal["text", "json"] = "text"
    """``text`` for people; ``json`` for machines: one object per line with time, level,
    logger, message, and job_id and request_id when the line has them."""

    ready_needs_broker: bool = True
    """With a broker: ``/readyz`` answers 503 while it is unreachable. Off: the server stays
    ready (uploads are accepted and stay pending; the reconciler sends them once it is
    back) and ``/readyz`` names the broker as unreachable in its 200 answer."""

    metrics_enabled: bool = True
    """Serve Prometheus metrics at ``/metrics`` on ``tft serve`` (and on ``tft worker``
    with a metrics port). Off: no metrics endpoint at all."""

    metrics_token: SecretStr | None = None
    """Set: ``/metrics`` answers only ``Authorization: Bearer <this>``. Unset: no credential
    is asked (keep the port private, or set this)."""

    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Port each ``tft worker`` serves its ``/metrics`` on (``--metrics-port``); unset: none."""

    worker_metrics_host: str = "127.0.0.1"
    """Interface a worker's metrics port binds to (``0.0.0.0`` for a scraper elsewhere)."""

    inline_workers: int = Field(default=1, ge=0, le=64)
    """Worker threads inside ``tft serve`` when no broker is configured (0: jobs wait)."""

    inline_isolation: Literal["process", "thread"] = "process"
    """Where an inline worker runs its jobs. ``process``: in one child process per worker,
    started at its first job and kept, so decoding never holds the API's interpreter lock
    (the API served 0.4-0.5x its idle rate while a job decoded in a thread). ``thread``: in
    the worker thread itself, one process in all (the test suite's in-process apps, and
    hooks that patch the pipeline in the serving process)."""

    inline_niceness: int = Field(default=10, ge=0, le=19)
    """How much lower the CPU priority of an inline worker's child process is than the
    server's (``nice``), so requests win the cores while a job decodes and the job takes
    what they leave; a job alone on the machine runs at full speed. 0: the same priority."""

    broker_url: str | None = None
    """Dramatiq broker, ``redis://...`` or ``amqp://...``. Set: ``tft serve`` sends jobs there
    and runs no inline workers; ``tft worker`` processes run them. Unset: inline workers."""

    queue_prefix: str = Field(default="", pattern=r"^([A-Za-z_][A-Za-z0-9_-]*)?$")
    """Prefix of the broker's queue names (``<prefix>.standard``, ``<prefix>.vintage``), so
    several installations can share one broker. Empty: ``standard`` and ``vintage``."""

    reconcile_grace_seconds: float = Field(default=60, gt=0)
    """A pending job nobody has claimed for this long has its message sent again (the first
    may have been lost while the broker was down); repeated with doubling intervals."""

    engine: Literal["local", "openai"] = "local"
    """Recogniser of the standard attempt: ``local`` (faster-whisper, ``TFT_WHISPER_MODEL``)
    or ``openai`` (an OpenAI-compatible ``/audio/transcriptions``, ``TFT_OPENAI_*``). Vintage
    attempts and the automatic retry always run locally."""

    openai_base_url: str = "https://api.openai.com/v1"
    """Base URL of the OpenAI-compatible API (``/audio/transcriptions`` is appended), e.g.
    another TextFromTrack's ``http://host:8000/v1``."""

    openai_api_key: SecretStr | None = None
    """Bearer key for that API (another TextFromTrack: a personal access token). Never shown
    or logged; unset sends no Authorization header."""

    openai_model: str = "whisper-1"
    """``model`` asked of that API; the job reports the model its answer names, else this."""

    openai_max_retries: int = Field(default=2, ge=0, le=10)
    """Retries after a 429, 5xx or failed connection (so 1 + this many calls), unless the
    answer says ``x-should-retry: false``. Each waits Retry-After, else a doubling backoff."""

    openai_retry_base_seconds: float = Field(default=1.0, ge=0)
    """First backoff wait; it doubles per retry up to ``TFT_OPENAI_RETRY_MAX_WAIT_SECONDS``."""

    openai_retry_max_wait_seconds: float = Field(default=60, ge=0)
    """Longest wait before a retry; a Retry-After asking for longer fails the attempt now."""

    openai_timeout_seconds: float = Field(default=600, gt=0)
    """Seconds to send the file and to wait for each read of the answer (a transcription
    takes a while; another TextFromTrack answers when its job is done)."""

    openai_connect_timeout_seconds: float = Field(default=10, gt=0)
    """Seconds to connect to that API."""

    whisper_model: str = "base"
    """Standard model: ``base`` (bundled), a local CTranslate2 folder, or a faster-whisper name."""

    model_cache_dir: Path | None = None
    """Where models are assembled and kept (default ``<data dir>/models``); shareable."""

    whisper_device: str = "auto"
    """``auto``, ``cpu`` or ``cuda``."""

    whisper_compute_type: str = "auto"
    """CTranslate2 compute type; ``auto`` is int8 on CPU and float16 on CUDA."""

    whisper_cpu_threads: int = Field(default=0, ge=0)
    """CPU threads per model (0: CTranslate2's default)."""

    vintage_model: str = "large-v3"
    """Model for vintage jobs; if it cannot load (offline, no local copy) the standard one runs."""

    separator: Literal["auto", "spleeter", "demucs"] = "auto"
    """Vocal separator: ``auto`` uses Demucs when its weights load, else the bundled Spleeter."""

    demucs_repo: Path | None = None
    """Local folder of Demucs weights (``*.th`` plus ``htdemucs.yaml``)."""

    demucs_model: str = "htdemucs"
    """Demucs model (bag) name to load."""

    separation_device: str = "auto"
    """``auto`` (CUDA when PyTorch sees a GPU), ``cpu`` or ``cuda``."""

    quality_retry: bool = True
    """Retry a standard job whose transcript is judged poor with the vintage pipeline."""

    # Speech and music get their own voice-detector settings: the standard attempt
    # (on the mix) uses faster-whisper's own, which are right for speech, and a song
    # whose singing they drop is sent to the music path (see music_kept_share); the
    # vintage attempt runs on the separated vocal stem, where sung vowels score lower
    # speech probability and instrumental breaks should end a stretch.
    vad_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    """Silero speech probability above which the standard attempt hears voice (on the mix)."""

    vad_min_silence_ms: int = Field(default=2000, ge=0)
    """Silence (ms) that ends a voiced stretch in the standard attempt."""

    vad_min_speech_ms: int = Field(default=0, ge=0)
    """Voiced stretches shorter than this (ms) are dropped in the standard attempt."""

    vad_speech_pad_ms: int = Field(default=400, ge=0)
    """Padding (ms) kept around each voiced stretch in the standard attempt."""

    vintage_vad_threshold: float = Field(default=0.35, ge=0.0, le=1.0)
    """The same for the vintage attempt, which runs on the separated vocal stem."""

    vintage_vad_min_silence_ms: int = Field(default=1000, ge=0)
    """Silence (ms) that ends a sung stretch on the vocal stem."""

    vintage_vad_min_speech_ms: int = Field(default=250, ge=0)
    """Sung stretches shorter than this (ms) are dropped on the vocal stem."""

    vintage_vad_speech_pad_ms: int = Field(default=400, ge=0)
    """Padding (ms) kept around each sung stretch on the vocal stem."""

    vintage_voice_detector: Literal["silero", "energy"] = "silero"
    """What finds the singing on the vocal stem: ``silero`` (the voice detector, with the
    ``TFT_VINTAGE_VAD_*`` settings) or ``energy`` (the stem's own band energy, whose
    regions are decoded; Silero drops sung passages, see benchmarks/lyrics.py)."""

    vintage_mix_share: float = Field(default=0.15, ge=0.0, lt=1.0)
    """How much of the original mix the vintage attempt decodes blended into the vocal
    stem (0: the stem alone). The separator's mask leaves holes and artefacts in the
    voice that cost Whisper more words than the instruments do 17 dB down: 0.15 lowered
    the dev set's vintage WER on every input variant, mean 0.670 to 0.629
    (benchmarks/lyrics.py, README). Not used for a job with ``lyrics``, which aligns on
    the stem alone."""

    alignment_voice_detector: Literal["silero", "energy"] = "energy"
    """The same, in place of ``TFT_VINTAGE_VOICE_DETECTOR``, for a job with ``lyrics``:
    there the user gives the words and the decode only has to find where they are sung,
    which the stem's energy finds better than Silero (benchmarks/alignment.py)."""

    compression_ratio_threshold: float = Field(default=2.4, gt=0)
    """A 30 s window whose text gzips better than this is re-decoded (Whisper's 2.4)."""

    log_prob_threshold: float = Field(default=-1.0, le=0)
    """A window whose mean token log-probability is below this is re-decoded (Whisper's -1)."""

    hallucination_silence_threshold: float = Field(default=0, ge=0)
    """Seconds: skip silences this long around a likely hallucination (0: off, the default)."""

    music_kept_share: float = Field(default=0.7, ge=0, le=10)
    """A standard attempt whose voice detector passed less than this share of the voiced
    seconds is music the speech detector failed on, and goes on to the vintage attempt
    (songs' mixes measured 0.18-0.50, speech 1.4-1.7; 0 turns the rule off)."""

    music_min_voice_seconds: float = Field(default=30, ge=0)
    """The kept-share rule is applied only to this much voiced audio (short clips pass)."""

    music_replace_margin: float = Field(default=1.2, ge=1.0)
    """The music-mode attempt replaces the standard one only with this many times its
    usable words (separation artefacts become wrong words, which a count cannot see)."""

    batched_decoding_min_seconds: float = Field(default=300, ge=0)
    """Audio at least this long is decoded batched (faster-whisper's BatchedInferencePipeline).
    Measured (benchmarks/long_audio.py): 0.98x the sequential time at 30 s, 0.62-0.75x from
    120 s, 0.60x at 10 min; but it raised WER on all four test songs' mixes, so the default
    stays above most songs' length (0: always sequential)."""

    batched_decoding_batch_size: int = Field(default=4, ge=1, le=64)
    """30 s chunks decoded together when batched; more costs memory, not accuracy."""

    vintage_batched_decoding: bool = False
    """Decode the vintage (vocal stem) attempt batched too, from the same length on. Off:
    on the four test songs' stems it raised WER on two (mean 0.654 -> 0.648)."""

    export_retention_days: float = Field(default=7, gt=0)
    """Days after completion before exports and segments are deleted (then 410 Gone)."""

    sweep_interval_seconds: int = Field(default=3600, ge=1)
    """How often the maintenance role (one ``tft serve`` at a time) runs the retention sweep."""

    max_active_jobs_per_user: int = Field(default=2, ge=1)
    """Pending + processing jobs one account may have (the spec says 2)."""

    max_active_jobs_per_ip: int = Field(default=3, ge=1)
    """Pending + processing jobs from one client address (the spec says 3)."""

    job_max_attempts: int = Field(default=3, ge=1)
    """Times a job is claimed before a crash-looping job is failed and refunded."""

    heartbeat_seconds: float = Field(default=10, gt=0)
    """How often a worker proves it still holds its job."""

    heartbeat_timeout_seconds: float = Field(default=120, gt=0)
    """A processing job silent this long belongs to a dead worker and is put back."""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, value: str | None) -> str | None:
        from textfromtrack.media.store import parse_storage_url

        # A mistyped URL fails at start-up, not at the first upload.
        parse_storage_url(value, Path("."))
        return value

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'tft.db').resolve()}"

    @property
    def effective_top_up_url(self) -> str:
        """TFT_TOP_UP_URL, or this instance's account page: never another site by default."""
        return self.top_up_url or f"{self.public_base_url.rstrip('/')}/app/account"

    @cached_property
    def effective_secret_key(self) -> str:
        if self.secret_key is not None and self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        return load_or_create_secret(self.data_dir)

    @property
    def effective_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def cookie_secure(self) -> bool:
        return self.public_base_url.lower().startswith("https://")


def load_or_create_secret(data_dir: Path) -> str:
    """Read the persisted secret, creating it atomically (0600) the first time."""
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    try:
        # Link, not rename: if another process won the race, its secret is kept.
        os.link(tmp, path)
    except FileExistsError:
        value = path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return value


def masked_settings(settings: Settings) -> dict[str, str]:
    """The effective settings as display strings, secrets masked."""
    out: dict[str, str] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name == "secret_key":
            source = (
                "environment" if value is not None else f"{settings.data_dir / SECRET_KEY_FILE}"
            )
            out[name] = f"******** (from {source})"
        elif isinstance(value, SecretStr):
            # Any secret that is set (metrics_token, openai_api_key, ...): never its value.
            out[name] = "********"
        elif name == "database_url":
            out[name] = mask_url(settings.effective_database_url)
        elif name in ("broker_url", "openai_base_url", "storage_url", "s3_endpoint_url") and value:
            out[name] = mask_url(value)
        elif isinstance(value, list):
            out[name] = ",".join(str(v) for v in value)
        else:
            out[name] = str(value)
    return out


def mask_url(url: str) -> str:
    """Hide a password inside a database or broker URL."""
    scheme, sep, rest = url.partition("://")
    # Credentials live in the authority, which ends at the first '/'; a query may hold '@'.
    authority, slash, path = rest.partition("/")
    if not sep or "@" not in authority:
        return url
    creds, at, host = authority.rpartition("@")
    user, colon, _password = creds.partition(":")
    return f"{scheme}://{user}{':********' if colon else ''}{at}{host}{slash}{path}"
