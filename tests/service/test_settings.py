"""Settings: the PRUNESEARCH_ environment, defaults, and the checks that fail closed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.jobs._wiring import worker_options
from service.settings import Settings, get_settings, is_loopback
from workers import WorkerOptions


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PRUNESEARCH_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()


def test_defaults_match_the_design() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///./prunesearch.db"
    assert settings.broker_url is None and settings.embedded
    assert settings.artifact_dir == Path("./prunesearch-artifacts")
    assert settings.auth is True
    assert settings.allowed_factories == []
    assert settings.max_upload_bytes == 512 * 1024 * 1024
    assert settings.allow_pickle is False
    assert settings.visibility_timeout_s == 3600


def test_the_environment_is_read_once_through_the_cached_getter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRUNESEARCH_DATABASE_URL", "postgresql://ps@db/ps")
    monkeypatch.setenv("PRUNESEARCH_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.setenv("PRUNESEARCH_MAX_UPLOAD_MB", "3")
    monkeypatch.setenv("PRUNESEARCH_ALLOWED_FACTORIES", "mypkg.models, other.zoo")
    settings = get_settings()
    assert settings.database_url == "postgresql+psycopg://ps@db/ps"
    assert settings.broker_url == "redis://redis:6379/0" and not settings.embedded
    assert settings.max_upload_bytes == 3 * 1024 * 1024
    assert settings.allowed_factories == ["mypkg.models", "other.zoo"]
    monkeypatch.setenv("PRUNESEARCH_MAX_UPLOAD_MB", "4")
    assert get_settings() is settings  # cached until cache_clear()


def test_allowed_factories_also_take_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRUNESEARCH_ALLOWED_FACTORIES", '["a.b", "c"]')
    assert Settings().allowed_factories == ["a.b", "c"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auth": False, "host": "0.0.0.0"}, "auth may be off only"),
        ({"auth": False, "broker_url": "redis://r"}, "auth may be off only"),
        ({"slice_seconds": 4000}, "slice_seconds < task_time_limit_s"),
        ({"task_time_limit_s": 3600}, "task_time_limit_s < visibility_timeout_s"),
        ({"max_upload_mb": 0}, "greater than 0"),
    ],
)
def test_unsafe_combinations_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**overrides)  # type: ignore[arg-type]


def test_auth_may_be_off_for_an_embedded_loopback_run() -> None:
    assert Settings(auth=False, host="127.0.0.1").auth is False
    assert Settings(auth=False, host="::1").auth is False


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_an_empty_broker_url_means_embedded() -> None:
    from service.settings import Settings

    settings = Settings(broker_url="")
    assert settings.broker_url is None
    assert settings.embedded


def test_the_workers_options_follow_the_settings() -> None:
    settings = Settings(
        sweep_interval_s=17, heartbeat_interval_s=20, worker_heartbeat_s=5, slice_trials=3
    )

    options = worker_options(settings)

    assert options.sweep_every_s == 17.0  # celery beat and the embedded sweeper alike
    assert (options.trial_heartbeat_s, options.trial_grace_s) == (20, 80)
    assert (options.worker_heartbeat_s, options.slice_trials) == (5.0, 3)


def test_the_workers_knobs_have_one_set_of_defaults_and_one_check() -> None:
    # The defaults are the workers' own: the settings add nothing of their own.
    assert worker_options(Settings()) == WorkerOptions()
    # The workers' check refuses at load what a worker would refuse at start.
    with pytest.raises(ValidationError, match="soft time limit"):
        Settings(slice_seconds=1700)
    with pytest.raises(ValidationError, match="trial_grace_s"):
        Settings(heartbeat_interval_s=30, trial_grace_s=30)
    with pytest.raises(ValidationError, match="max_parallelism"):
        Settings(max_parallelism=0)
