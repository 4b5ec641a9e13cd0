"""Database fixtures: every database test runs on SQLite and on a real PostgreSQL.

PostgreSQL is required, not optional: if it cannot be reached the tests fail (CI starts
it). One database, uniquely named, is created per test session and dropped at the end;
each test starts from an empty ``public`` schema in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from service.db import make_engine, make_session_factory, migrate
from tests.postgres import admin_engine, throwaway_database
from tests.service.browser import CHROMIUM, CHROMIUM_ARGS, Pages, require_browser
from tests.service.factories import LiveApi

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    with throwaway_database("ps_test") as url:
        yield url


def _reset_postgres(url: str) -> None:
    # Leftover connections (a test's Optuna engine) would block DROP SCHEMA: end them first.
    engine = admin_engine(make_url(url).database)
    with engine.connect() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a temporary SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'prunesearch.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def migrated_url(db_url: str) -> str:
    migrate(db_url)
    return db_url


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine)() as session:
        yield session
        session.rollback()


# -- the browser tests (tests/service/browser.py has what they share) --


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, one per test module."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def pages(browser: Browser, live: LiveApi) -> Iterator[Pages]:
    """Signed-in pages of the module's live server; no script error may happen on any."""
    opened = Pages(browser, live)
    yield opened
    for context in opened.contexts:
        context.close()
    assert not opened.errors, f"script errors on the page: {opened.errors}"
