"""``upsert``: INSERT ... ON CONFLICT DO UPDATE, spelled for the session's dialect."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["upsert"]


def upsert(
    session: Session, model: type[Any], rows: Sequence[dict[str, Any]], *, keys: Sequence[str]
) -> Any:
    """The statement inserting ``rows`` into ``model``'s table, or updating every other
    column of the row already there with the same ``keys`` (a unique index): race-free on
    PostgreSQL and SQLite alike, which both spell it ``ON CONFLICT``. Every row has the
    same columns; execute it in ``session``."""
    if not rows:
        raise ValueError("upsert needs at least one row")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(list(rows))
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={column: statement.excluded[column] for column in rows[0] if column not in keys},
    )
