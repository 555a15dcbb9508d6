"""Settings choose how jobs reach workers: inline threads, or Dramatiq when a broker is set."""

from __future__ import annotations

from textfromtrack.config import Settings
from textfromtrack.db import Database
from textfromtrack.queue.base import Dispatcher


def make_dispatcher(db: Database, settings: Settings) -> Dispatcher:
    if settings.broker_url:
        from textfromtrack.queue.dramatiq import DramatiqDispatcher

        return DramatiqDispatcher(db, settings)
    from textfromtrack.queue.inline import InlineDispatcher

    return InlineDispatcher(db, settings)


def needs_reconciler(settings: Settings) -> bool:
    """Inline workers poll the database for pending jobs; a broker's workers only see
    messages, so a lost message must be sent again."""
    return bool(settings.broker_url)
