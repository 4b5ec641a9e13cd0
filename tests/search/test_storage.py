"""The one Optuna storage factory (``search.make_storage``) and its options."""

from __future__ import annotations

from pathlib import Path

from optuna.storages import InMemoryStorage, RDBStorage

from search import make_storage


def test_a_url_gives_a_pre_pinged_storage_with_heartbeats(tmp_path: Path) -> None:
    storage = make_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_s=3, grace_s=9)
    try:
        assert isinstance(storage, RDBStorage)
        assert storage.engine.pool._pre_ping
        assert storage.heartbeat_interval == 3 and storage.grace_period == 9
        assert storage.failed_trial_callback is not None  # a dead trial is retried
    finally:
        storage.engine.dispose()


def test_readers_open_it_without_heartbeats_and_choose_the_sqlite_wait(tmp_path: Path) -> None:
    storage = make_storage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_s=None, sqlite_timeout_s=7)
    try:
        assert storage.heartbeat_interval is None
        assert storage.failed_trial_callback is None
        with storage.engine.connect() as connection:
            # sqlite3's timeout is the busy handler's wait, in milliseconds.
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
    finally:
        storage.engine.dispose()


def test_other_storages_pass_through() -> None:
    memory = InMemoryStorage()
    assert make_storage(memory) is memory
    assert make_storage(None) is None
