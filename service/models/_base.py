"""The declarative base and the column types every model shares."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, Enum, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["TABLE_PREFIX", "Base", "JsonType", "UtcDateTime", "enum_column", "new_id", "utcnow"]

# Our tables share the database with Optuna's (`studies`, `trials`, ...): the prefix keeps
# them apart, and Alembic only ever looks at tables carrying it.
TABLE_PREFIX = "ps_"

# Named constraints let Alembic alter them later (SQLite batch mode needs the names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh object id: 32 hex digits, never derived from user input."""
    return uuid.uuid4().hex


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend: SQLite drops the zone, so it is put back on
    read, and naive values are refused on write rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL: plain `json` has no equality operator, which breaks DISTINCT.
JsonType: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")


def enum_column(enum_class: type[enum.Enum], name: str) -> Enum:
    """A portable enum: VARCHAR plus a CHECK constraint named ``name`` (unique per table),
    storing the members' values, not their names."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )
