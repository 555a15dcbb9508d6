"""JSON responses serialised once, by pydantic-core.

A handler that returns a model lets FastAPI validate it again against its
``response_model``, turn it into Python objects and encode those with ``json``: three
passes over what pydantic-core can write in one. The hot reads (poll, the list, /me)
return ``ModelResponse`` instead, and keep ``response_model`` for the schema. On a
page of 200 jobs the extra passes were most of the handler's time.
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response


class ModelResponse(Response):
    media_type = "application/json"

    def __init__(self, model: BaseModel, status_code: int = 200) -> None:
        super().__init__(model.model_dump_json(), status_code)
