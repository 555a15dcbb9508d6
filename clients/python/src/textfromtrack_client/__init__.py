"""Python client for the TextFromTrack API v1.

from textfromtrack_client import TextFromTrack

with TextFromTrack() as tft:  # TFT_TOKEN and TFT_BASE_URL from the environment
    result = tft.transcribe("track.mp3", formats=["lrc"])
    open("track.lrc", "wb").write(result.exports["lrc"])
"""

from textfromtrack_client.client import (
    DEFAULT_BASE_URL,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_TIMEOUT,
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
    InvalidState,
    JobFailed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    TextFromTrackError,
    TrackTooLong,
    Unauthorized,
    UnexpectedResponse,
    UnknownError,
    ValidationError,
    WaitTimeout,
)
from textfromtrack_client.models import (
    FORMATS,
    Attempt,
    Job,
    JobPage,
    JobStatus,
    Me,
    Segment,
    Segments,
    Submission,
    Transcription,
)
from textfromtrack_client.retry import NO_RETRY, RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_POLL_INTERVAL",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WAIT_TIMEOUT",
    "FORMATS",
    "NO_RETRY",
    "Attempt",
    "ConnectionFailed",
    "Forbidden",
    "Gone",
    "InsufficientCredits",
    "InternalError",
    "InvalidState",
    "Job",
    "JobFailed",
    "JobPage",
    "JobStatus",
    "Me",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RetryPolicy",
    "Segment",
    "Segments",
    "Submission",
    "TextFromTrack",
    "TextFromTrackError",
    "TrackTooLong",
    "Transcription",
    "Unauthorized",
    "UnexpectedResponse",
    "UnknownError",
    "ValidationError",
    "WaitTimeout",
    "__version__",
]
