from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from textfromtrack.db import utcnow
from textfromtrack.timestamps import Timestamp
from textfromtrack.tokens.models import ApiToken
from textfromtrack.tokens.service import ALL_SCOPES, is_active

TokenId = Annotated[str, Field(json_schema_extra={"format": "uuid"})]


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["laptop script"])
    scopes: list[str] | None = Field(default=None, examples=[list(ALL_SCOPES)])
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenCreated(BaseModel):
    id: TokenId
    name: str
    token: str = Field(description="The plaintext token. Shown only in this response.")
    scopes: list[str]
    last_four: str
    created_at: Timestamp
    expires_at: Timestamp | None


class TokenOut(BaseModel):
    id: TokenId
    name: str
    scopes: list[str]
    last_four: str
    created_at: Timestamp
    last_used_at: Timestamp | None
    expires_at: Timestamp | None
    revoked: bool
    revoked_at: Timestamp | None
    expired: bool

    @classmethod
    def of(cls, record: ApiToken) -> TokenOut:
        now = utcnow()
        return cls(
            id=record.id,
            name=record.name,
            scopes=record.scope_list,
            last_four=record.last_four,
            created_at=record.created_at,
            last_used_at=record.last_used_at,
            expires_at=record.expires_at,
            revoked=record.revoked_at is not None,
            revoked_at=record.revoked_at,
            expired=record.revoked_at is None and not is_active(record, now),
        )
