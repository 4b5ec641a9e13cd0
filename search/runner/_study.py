"""Optuna plumbing: storage (with heartbeats and retries), sampler, study."""

from __future__ import annotations

import warnings
from typing import Any, overload

import optuna
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import StudyDirection

from search.baselines import BASELINES
from search.space import WARM_STARTS_PER_ANCHOR
from search.spec import SearchOptions, SearchSpec

# A process that stops heartbeating for GRACE seconds has its trial failed and retried.
HEARTBEAT_S, GRACE_S, MAX_RETRY = 10, 60, 2
# How long an SQLite connection waits for another writer's lock before "database is locked".
SQLITE_TIMEOUT_S = 60.0


@overload
def make_storage(
    storage: str,
    *,
    heartbeat_s: int | None = HEARTBEAT_S,
    grace_s: int = GRACE_S,
    sqlite_timeout_s: float = SQLITE_TIMEOUT_S,
) -> RDBStorage: ...
@overload
def make_storage(
    storage: BaseStorage | None,
    *,
    heartbeat_s: int | None = HEARTBEAT_S,
    grace_s: int = GRACE_S,
    sqlite_timeout_s: float = SQLITE_TIMEOUT_S,
) -> BaseStorage | None: ...
def make_storage(
    storage: str | BaseStorage | None,
    *,
    heartbeat_s: int | None = HEARTBEAT_S,
    grace_s: int = GRACE_S,
    sqlite_timeout_s: float = SQLITE_TIMEOUT_S,
) -> BaseStorage | None:
    """The one way to open an Optuna RDB storage from a URL; other storages pass through.

    Connections are pre-pinged (a database restart does not fail the next query) and an
    SQLite file waits ``sqlite_timeout_s`` for its lock. Trials heartbeat every
    ``heartbeat_s`` seconds and a trial silent for ``grace_s`` is failed and retried;
    ``heartbeat_s=None`` opens a storage without heartbeats, for readers (the API, the CLI).
    """
    if not isinstance(storage, str):
        return storage
    connect: dict[str, object] = (
        {"timeout": sqlite_timeout_s} if storage.startswith("sqlite") else {}
    )
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True, "connect_args": connect}
    if heartbeat_s is None:
        return RDBStorage(storage, engine_kwargs=engine_kwargs)
    with warnings.catch_warnings():
        # Heartbeats are marked experimental in Optuna; they are what fails dead trials.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(
            storage,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_s,
            grace_period=grace_s,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        )


def fail_dead_trials(study: optuna.Study) -> None:
    """Fail the study's trials whose process stopped heartbeating for longer than the
    storage's grace; the retry callback queues each again (storages without heartbeats:
    nothing to do)."""
    with warnings.catch_warnings():
        # Heartbeats are experimental in Optuna; they are what fails a dead trial.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def make_sampler(options: SearchOptions, *, seed: int | None = None) -> optuna.samplers.BaseSampler:
    # Budget violations reach the samplers through ``trial.set_constraint`` (Optuna 5).
    seed = options.seed if seed is None else seed
    if options.sampler == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, n_startup_trials=_startup(options)
        )
    if options.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(
            seed=seed, population_size=max(4, min(50, options.n_trials // 4))
        )
    if options.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=_startup(options))
    if options.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=_startup(options))
    return optuna.samplers.RandomSampler(seed=seed)


def open_study(
    spec: SearchSpec,
    storage: BaseStorage | None,
    study_name: str | None = None,
    *,
    sampler_seed: int | None = None,
) -> optuna.Study:
    """Create the spec's study, or load it to resume (same name, same storage).

    ``sampler_seed`` replaces the spec's seed for this process's sampler: processes sharing
    one study need different seeds, or they draw the same points."""
    costs = len(spec.search.objectives) - 1
    directions = [StudyDirection.MAXIMIZE] + [StudyDirection.MINIMIZE] * costs
    return optuna.create_study(
        storage=storage,
        study_name=study_name or default_study_name(spec),
        sampler=make_sampler(spec.search, seed=sampler_seed),
        pruner=optuna.pruners.NopPruner(),  # screening has no epochs; the rungs halve
        directions=directions,
        load_if_exists=True,
    )


def default_study_name(spec: SearchSpec) -> str:
    return f"prunesearch-{spec.name}-{spec.fingerprint()}"


def _startup(options: SearchOptions) -> int:
    """Random trials before the model-based sampler takes over. Optuna counts every
    complete trial, enqueued ones too, so the baselines and warm starts are added:
    otherwise TPE would model a handful of points and behave as random search."""
    enqueued = len(BASELINES) * (1 + WARM_STARTS_PER_ANCHOR)
    return enqueued + max(4, min(40, options.n_trials // 10))
