"""One wire shape for every instant: RFC 3339, UTC, whole seconds, ``Z``.

The spec shows ``2026-05-08T10:00:00Z``. Pydantic's own output carried microseconds
and ``isoformat()`` ends in ``+00:00``; a client parsing the documented shape with a
fixed format broke on both. Schemas use ``Timestamp``; error details use ``rfc3339``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

EXAMPLE = "2026-05-08T10:00:00Z"


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC to the second. A naive value is taken as UTC (what the DB stores)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_second(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime without its fraction of a second."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


# Normalised when the model is built, then written by pydantic-core itself, which puts
# ``Z`` for UTC and leaves out a zero fraction: the documented shape, with no Python
# call per field at serialisation (a page of 200 jobs has 400 of them).
Timestamp = Annotated[
    datetime,
    AfterValidator(utc_second),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [EXAMPLE]}),
]
