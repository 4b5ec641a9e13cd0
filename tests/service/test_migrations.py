"""Alembic owns our ps_ tables only, next to Optuna's, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import optuna
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from service.db import VERSION_TABLE, alembic_config, make_engine, migrate, schema_is_current

OUR_TABLES = {
    "ps_api_keys",
    "ps_artifacts",
    "ps_jobs",
    "ps_candidates",
    "ps_job_events",
    "ps_slices",
    "ps_workers",
}


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _version(engine: Engine, table: str) -> list[str]:
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text(f"SELECT version_num FROM {table}"))]


def _snapshot(url: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        return {
            name: (
                [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(name)],
                sorted(i["name"] or "" for i in inspector.get_indexes(name)),
                _version(engine, VERSION_TABLE),
            )
            for name in sorted(inspector.get_table_names())
        }
    finally:
        engine.dispose()


def _optuna_study(url: str, name: str = "coexist") -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=url, study_name=name, load_if_exists=True)
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=2)
    return study


def test_upgrade_creates_exactly_our_tables(db_url: str) -> None:
    migrate(db_url)
    assert _tables(db_url) == OUR_TABLES | {VERSION_TABLE}
    engine = make_engine(db_url)
    try:
        assert _version(engine, VERSION_TABLE) == [_head()]
        assert schema_is_current(engine)
    finally:
        engine.dispose()


def test_schema_is_current_is_false_before_migrating(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert not schema_is_current(engine)
    finally:
        engine.dispose()


def test_upgrading_twice_changes_nothing(db_url: str) -> None:
    migrate(db_url)
    first = _snapshot(db_url)
    migrate(db_url)
    assert _snapshot(db_url) == first


def test_models_and_migrations_agree(migrated_url: str) -> None:
    # `alembic check`: autogenerate against the migrated database finds no difference.
    command.check(alembic_config(migrated_url))


@pytest.mark.parametrize("optuna_first", [False, True], ids=["ours-first", "optuna-first"])
def test_optuna_study_coexists_with_our_tables(db_url: str, optuna_first: bool) -> None:
    if optuna_first:
        _optuna_study(db_url)
    migrate(db_url)
    _optuna_study(db_url)
    migrate(db_url)

    tables = _tables(db_url)
    assert OUR_TABLES | {VERSION_TABLE} <= tables
    assert {"studies", "trials", "alembic_version"} <= tables  # Optuna's own
    command.check(alembic_config(db_url))  # Optuna's tables are invisible to autogenerate

    engine = make_engine(db_url)
    try:
        assert _version(engine, VERSION_TABLE) == [_head()]
        assert _version(engine, "alembic_version") != [_head()]  # Optuna's, untouched
    finally:
        engine.dispose()
    study = optuna.load_study(study_name="coexist", storage=db_url)
    assert len(study.trials) == (4 if optuna_first else 2)


def test_downgrade_removes_only_our_tables(db_url: str) -> None:
    migrate(db_url)
    _optuna_study(db_url)
    command.downgrade(alembic_config(db_url), "base")
    tables = _tables(db_url)
    assert not tables & OUR_TABLES
    assert {"studies", "trials", "alembic_version"} <= tables
    assert len(optuna.load_study(study_name="coexist", storage=db_url).trials) == 2


def test_concurrent_migrations_on_postgresql(db_url: str) -> None:
    # Several api containers starting together: the advisory lock lets exactly one migrate.
    # Separate processes, as containers are: Alembic's context is per process, not per thread.
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite is for one embedded process; concurrent migrate is a server case")
    code = "import sys; from service.db import migrate; migrate(sys.argv[1])"
    processes = [
        subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else b"") for p in processes]
    assert [code for code, _ in results] == [0, 0, 0, 0], results
    assert _tables(db_url) == OUR_TABLES | {VERSION_TABLE}
