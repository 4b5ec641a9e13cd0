"""Alembic, driven from Python: ``prunesearch migrate`` and the readiness check use this."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from service.exceptions import ServiceError
from service.settings import get_settings, normalize_database_url

__all__ = ["VERSION_TABLE", "alembic_config", "migrate", "schema_is_current"]

# Optuna keeps its own schema version in `alembic_version`: ours must live elsewhere.
VERSION_TABLE = "ps_alembic_version"
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for our migrations, independent of the working directory.

    The URL travels in ``attributes`` rather than ``sqlalchemy.url``: the ini option is
    %-interpolated, which would mangle percent-encoded passwords.
    """
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise ServiceError(
            f"migrations not found at {MIGRATIONS_DIR}: install prunesearch from a source "
            "checkout (pip install -e .) or copy migrations/ next to the service package"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = normalize_database_url(url or get_settings().database_url)
    return config


def migrate(url: str | None = None, revision: str = "head") -> None:
    """Upgrade the database at ``url`` (default: the settings' URL) to ``revision``;
    a database already there is left alone."""
    command.upgrade(alembic_config(url), revision)


def schema_is_current(engine: Engine) -> bool:
    """Whether the database behind ``engine`` is at our latest revision (for readiness)."""
    script = ScriptDirectory(str(MIGRATIONS_DIR), version_locations=None)
    heads = set(script.get_heads())
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return set(context.get_current_heads()) == heads
