"""Alembic environment for prunesearch: our ``ps_`` tables only, in our own version table.

Optuna keeps its tables (``studies``, ``trials``, ...) and its ``alembic_version`` table in
the same database; they are invisible here, so autogenerate never proposes to drop them.
"""

from __future__ import annotations

import logging.config
from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.pool import NullPool

from service.db import VERSION_TABLE, make_engine
from service.models import TABLE_PREFIX, Base, UtcDateTime
from service.settings import get_settings, normalize_database_url

config = context.config
if config.config_file_name is not None:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

# Any constant: the key of the PostgreSQL lock that serialises concurrent `migrate` runs.
_MIGRATION_LOCK_KEY = 0x70735F6D6967


def _url() -> str:
    # -x url=... beats the caller's URL, which beats alembic.ini, which beats the settings.
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.attributes.get("url")
        or config.get_main_option("sqlalchemy.url")
        or get_settings().database_url
    )
    return normalize_database_url(url)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Reflect only our tables (runs before reflection, so Optuna's are never loaded)."""
    if type_ == "table":
        return name is not None and name.startswith(TABLE_PREFIX)
    return True


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Compare only our tables and what belongs to them."""
    table = obj if type_ == "table" else getattr(obj, "table", None)
    table_name = getattr(table, "name", None)
    return table_name is None or str(table_name).startswith(TABLE_PREFIX)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render our column types as plain SQLAlchemy ones, so revisions never import models."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        include_object=include_object,
        compare_type=True,
        render_item=render_item,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # SQLite alters tables by copying them: batch mode renders that for later revisions.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Two api containers starting at once: the second waits, then finds head.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
