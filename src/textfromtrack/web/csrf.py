"""Cross-site request forgery defences for cookie-authenticated requests (pure functions).

Two independent checks, because each covers what the other cannot:

- A **per-session token**: an HMAC of the web session's id under the server's secret.
  Pages carry it in a <meta> tag and the app's scripts send it as ``X-CSRF-Token`` on
  every state-changing request. Another site can make a browser send our cookie, but
  it cannot read our pages, so it cannot know the token. Nothing is stored: the token
  is recomputed, and logging out (a new session id) changes it.
- An **Origin check** on every unsafe request to the session endpoints, including
  login and sign-up, which have no session yet to bind a token to ("login CSRF").
  Browsers send Origin on cross-site POSTs; a request without Origin or Referer comes
  from a non-browser client, which cannot be forged cross-site.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit

HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def token_for(secret: str, session_id: str) -> str:
    digest = hmac.new(secret.encode(), f"csrf:{session_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_valid(secret: str, session_id: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(token_for(secret, session_id), presented.strip())


def origin_of(url: str | None) -> str | None:
    """``scheme://host[:port]`` in lower case with default ports dropped; None if not a URL."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def request_origin_allowed(
    method: str, origin: str | None, referer: str | None, allowed: Iterable[str | None]
) -> bool:
    """Whether an unsafe request's declared origin is one of ours (safe methods always are)."""
    if method.upper() in SAFE_METHODS:
        return True
    ours = {o for o in (origin_of(a) for a in allowed) if o}
    if origin is not None:
        # "null" (sandboxed frames, some redirects) is never ours.
        return origin_of(origin) in ours
    if referer is not None:
        return origin_of(referer) in ours
    return True
