"""How jobs reach workers. The database is the truth; the queue carries only job ids."""

from __future__ import annotations

from typing import Protocol


class Dispatcher(Protocol):
    def enqueue(self, job_id: str) -> None:
        """Hand a committed pending job to a worker. Losing the message is harmless:
        pending jobs are also found by polling."""

    def start(self) -> None: ...

    def stop(self) -> None: ...
