from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, WithJsonSchema

from textfromtrack.db import utcnow
from textfromtrack.timestamps import Timestamp
from textfromtrack.tokens.models import ApiToken
from textfromtrack.tokens.service import ALL_SCOPES, is_active

TokenId = Annotated[str, Field(json_schema_extra={"format": "uuid"})]
# The service strips the name (str.strip), so it needs one character strip keeps. Literal
# characters, not escapes: regex dialects disagree on \s and on \u escapes.
NOT_ONLY_SPACE = "[^" + "".join(c for c in map(chr, range(0x3001)) if c.isspace()) + "]"
# The service checks the names (and says which are unknown); the schema lists them.
Scopes = Annotated[
    list[str],
    WithJsonSchema(
        {"type": "array", "items": {"type": "string", "enum": list(ALL_SCOPES)}, "minItems": 1}
    ),
]


class TokenCreate(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=100,
        examples=["laptop script"],
        description="Surrounding white space is dropped; something must remain.",
        json_schema_extra={"pattern": NOT_ONLY_SPACE},
    )
    scopes: Scopes | None = Field(
        default=None,
        examples=[list(ALL_SCOPES)],
        description="Default: all of them.",
    )
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
