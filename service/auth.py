"""API keys: bearer tokens shown once, stored as a lookup prefix and a sha256 hash.

A token is 256 random bits, so a plain sha256 is enough (no slow KDF: there is nothing to
brute-force) and keeps every authenticated request cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.exceptions import AuthError, NotFound
from service.models import ApiKey, utcnow

__all__ = [
    "SESSION_COOKIE",
    "TOKEN_PREFIX",
    "authenticate",
    "create_key",
    "hash_token",
    "list_keys",
    "revoke_key",
]

TOKEN_PREFIX = "ps_"
SESSION_COOKIE = "prunesearch_session"  # the web page's copy of a key (reads only)
_LOOKUP_CHARS = 8
_INVALID = "invalid or revoked API key"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _lookup_prefix(token: str) -> str:
    # The first characters of the secret part: ps_ itself would match every key.
    return token.removeprefix(TOKEN_PREFIX)[:_LOOKUP_CHARS]


def create_key(session: Session, owner: str) -> str:
    """Create a key for ``owner`` and return its token: the only time it is ever seen."""
    owner = owner.strip()
    if not owner:
        raise ValueError("an API key needs an owner")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(owner=owner, prefix=_lookup_prefix(token), hash=hash_token(token)))
    session.flush()
    return token


def authenticate(session: Session, token: str) -> str:
    """The owner of ``token``. Unknown, malformed and revoked tokens all raise the same
    AuthError, and hashes are compared in constant time."""
    digest = hash_token(token)
    candidates = session.scalars(select(ApiKey).where(ApiKey.prefix == _lookup_prefix(token)))
    for key in candidates:
        if hmac.compare_digest(key.hash, digest):
            if key.revoked_at is not None:
                break
            return key.owner
    raise AuthError(_INVALID)


def list_keys(session: Session, owner: str | None = None) -> list[ApiKey]:
    """Keys, oldest first, optionally of one owner (rows only: tokens are never stored)."""
    statement = select(ApiKey).order_by(ApiKey.id)
    if owner is not None:
        statement = statement.where(ApiKey.owner == owner)
    return list(session.scalars(statement))


def revoke_key(session: Session, key: int | str) -> ApiKey:
    """Revoke a key given by its row id or by its token; revoking twice keeps the first
    time. The row stays, so who held which key remains on record."""
    if isinstance(key, int):
        found = session.get(ApiKey, key)
    else:
        found = session.scalars(select(ApiKey).where(ApiKey.hash == hash_token(key))).first()
    if found is None:
        raise NotFound("no such API key")
    if found.revoked_at is None:
        found.revoked_at = utcnow()
    return found
