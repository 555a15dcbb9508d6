from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from textfromtrack.timestamps import Timestamp

UserId = Annotated[str, Field(json_schema_extra={"format": "uuid"})]


class Credentials(BaseModel):
    email: str = Field(max_length=320, examples=["you@example.com"])
    password: str = Field(max_length=1024)


class AccountOut(BaseModel):
    user_id: UserId
    email: str
    credit_balance: int
    created_at: Timestamp


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - OAuth token type, not a secret
    expires_at: Timestamp


class SessionOut(BaseModel):
    user_id: UserId
    email: str
    credit_balance: int
    expires_at: Timestamp


class MeOut(BaseModel):
    """Exactly the spec's GET /api/v1/me fields."""

    user_id: UserId
    email: str
    credit_balance: int
    top_up_url: str
    scopes_granted: list[str]
