from __future__ import annotations

from fastapi import APIRouter, Response, status

from textfromtrack.db import after_commit
from textfromtrack.deps import AuthCacheDep, CurrentWebCaller, SessionDep
from textfromtrack.tokens import service
from textfromtrack.tokens.schemas import TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/api/auth/tokens", tags=["tokens"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def create_token(body: TokenCreate, caller: CurrentWebCaller, session: SessionDep) -> TokenCreated:
    created = service.create(session, caller.user, body.name, body.scopes, body.expires_in_days)
    record = created.record
    return TokenCreated(
        id=record.id,
        name=record.name,
        token=created.plaintext,
        scopes=record.scope_list,
        last_four=record.last_four,
        created_at=record.created_at,
        expires_at=record.expires_at,
    )


@router.get("", response_model=list[TokenOut])
def list_tokens(caller: CurrentWebCaller, session: SessionDep) -> list[TokenOut]:
    """Newest first, revoked and expired ones included and marked. Never the plaintext."""
    return [TokenOut.of(t) for t in service.list_for_user(session, caller.user.id)]


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(
    token_id: str, caller: CurrentWebCaller, session: SessionDep, auth_cache: AuthCacheDep
) -> Response:
    service.revoke(session, caller.user.id, token_id)
    # Once the revocation is committed, this process stops trusting what it cached.
    after_commit(session, auth_cache.clear)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
