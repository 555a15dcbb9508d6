"""Imports every ORM model so metadata is complete for Alembic and tests."""

from __future__ import annotations


def import_all_models() -> None:
    from textfromtrack.accounts import models as _accounts  # noqa: F401
    from textfromtrack.credits import models as _credits  # noqa: F401
    from textfromtrack.jobs import models as _jobs  # noqa: F401
    from textfromtrack.tokens import models as _tokens  # noqa: F401
