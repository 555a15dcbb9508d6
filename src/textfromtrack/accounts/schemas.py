from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Credentials(BaseModel):
    email: str = Field(max_length=320, examples=["you@example.com"])
    password: str = Field(max_length=1024)


class AccountOut(BaseModel):
    user_id: str
    email: str
    credit_balance: int
    created_at: datetime


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - OAuth token type, not a secret
    expires_at: datetime


class SessionOut(BaseModel):
    user_id: str
    email: str
    credit_balance: int
    expires_at: datetime


class MeOut(BaseModel):
    """Exactly the spec's GET /api/v1/me fields."""

    user_id: str
    email: str
    credit_balance: int
    top_up_url: str
    scopes_granted: list[str]
