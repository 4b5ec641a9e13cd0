"""API keys: the token is shown once and never stored; wrong and revoked tokens fail."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from service.auth import (
    TOKEN_PREFIX,
    authenticate,
    create_key,
    hash_token,
    list_keys,
    revoke_key,
)
from service.exceptions import AuthError, NotFound
from service.models import ApiKey


def test_a_token_authenticates_its_owner(session: Session) -> None:
    alice, bob = create_key(session, "alice"), create_key(session, "bob")
    session.commit()
    assert alice.startswith(TOKEN_PREFIX) and len(alice) > 40
    assert authenticate(session, alice) == "alice"
    assert authenticate(session, bob) == "bob"


def test_only_a_hash_is_stored(session: Session, engine: Engine) -> None:
    token = create_key(session, "alice")
    session.commit()
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM ps_api_keys")).mappings().all()
    assert len(rows) == 1
    assert rows[0]["hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert rows[0]["prefix"] == token.removeprefix(TOKEN_PREFIX)[:8]
    assert not any(token in str(value) for value in rows[0].values())


@pytest.mark.parametrize("mangle", ["", "ps_", "nonsense", "drop-last", "flip-last", "no-prefix"])
def test_wrong_tokens_raise(session: Session, mangle: str) -> None:
    token = create_key(session, "alice")
    session.commit()
    wrong = {
        "drop-last": token[:-1],
        "flip-last": token[:-1] + ("A" if token[-1] != "A" else "B"),
        "no-prefix": token.removeprefix(TOKEN_PREFIX),
    }.get(mangle, mangle)
    with pytest.raises(AuthError, match="invalid or revoked API key"):
        authenticate(session, wrong)


def test_a_revoked_token_raises(session: Session) -> None:
    kept, by_token, by_id = (create_key(session, "alice") for _ in range(3))
    session.commit()
    revoke_key(session, by_token)
    row = next(k for k in list_keys(session, "alice") if k.hash == hash_token(by_id))
    first_time = revoke_key(session, row.id).revoked_at
    assert first_time is not None
    assert revoke_key(session, row.id).revoked_at == first_time  # revoking twice keeps it
    session.commit()

    assert authenticate(session, kept) == "alice"
    for token in (by_token, by_id):
        with pytest.raises(AuthError, match="invalid or revoked API key"):
            authenticate(session, token)
    assert [k.revoked_at is None for k in list_keys(session)] == [True, False, False]


def test_unknown_keys_cannot_be_revoked(session: Session) -> None:
    with pytest.raises(NotFound):
        revoke_key(session, 12345)
    with pytest.raises(NotFound):
        revoke_key(session, "ps_not-a-key")


def test_a_key_needs_an_owner(session: Session) -> None:
    with pytest.raises(ValueError, match="owner"):
        create_key(session, "  ")
    assert session.query(ApiKey).count() == 0
