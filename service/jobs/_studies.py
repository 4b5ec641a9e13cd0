"""Reading jobs' Optuna studies from the API: storages shared per URL, importances cached.

Opening an :class:`optuna.storages.RDBStorage` builds an engine and checks Optuna's schema:
far too slow per request. :class:`StudyStorages` opens one per URL, lazily, and shares it
between requests (the app keeps one and closes it at shutdown). Importances are not cheap:
:class:`ImportanceCache` keeps each job's answer until its trial count moves.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from cachetools import LRUCache
from optuna.storages import RDBStorage

from search import (
    IMPORTANCE_EVALUATOR,
    HistoryPoint,
    ImportanceUnavailable,
    make_storage,
    objective_direction,
    optimization_history,
    param_importances,
    ranking_warning,
    stored_sensitivity,
    usable_trials,
)
from service.jobs._insights import job_options
from service.models import Job
from service.settings import normalize_database_url

__all__ = [
    "NO_STUDY",
    "History",
    "ImportanceCache",
    "Importances",
    "Sensitivity",
    "SensitivityGroup",
    "StudyStorages",
    "job_history",
    "job_importances",
    "job_sensitivity",
]

NO_STUDY = "the job's study does not exist yet: it starts when the job is prepared"


class StudyStorages:
    """One Optuna storage per URL, opened on first use and shared (thread-safe)."""

    def __init__(self, default_url: str) -> None:
        self.default_url = default_url
        self._storages: dict[str, RDBStorage] = {}
        self._lock = threading.Lock()

    def storage(self, url: str | None = None) -> RDBStorage:
        """The storage at ``url`` (None: the service's own database)."""
        url = normalize_database_url(url or self.default_url)
        with self._lock:
            found = self._storages.get(url)
            if found is None:
                # A reader: no heartbeats; a request waits less for SQLite's lock than a trial.
                found = self._storages[url] = make_storage(
                    url, heartbeat_s=None, sqlite_timeout_s=30
                )
            return found

    def load(self, job: Job) -> optuna.Study | None:
        """``job``'s study, or None while it does not exist (a queued job)."""
        storage = self.storage(job.storage_url)
        try:
            storage.get_study_id_from_name(job.study_name)
        except KeyError:
            return None
        return optuna.load_study(study_name=job.study_name, storage=storage)

    def __len__(self) -> int:
        """How many storages are open."""
        with self._lock:
            return len(self._storages)

    def close(self) -> None:
        """Close every storage's connection pool."""
        with self._lock:
            storages, self._storages = list(self._storages.values()), {}
        for storage in storages:
            storage.engine.dispose()


@dataclass(frozen=True)
class History:
    direction: str
    points: list[HistoryPoint]


def job_history(storages: StudyStorages, job: Job) -> History:
    """The study's trials with the running best; empty (maximize) before the study exists."""
    study = storages.load(job)
    if study is None:
        return History(direction="maximize", points=[])  # the score: accuracy, maximised
    return History(direction=objective_direction(study), points=optimization_history(study))


@dataclass(frozen=True)
class Importances:
    """Parameter importances, most important first; empty with ``message`` saying why."""

    params: dict[str, float]
    trials_used: int
    message: str | None = None
    warning: str | None = None  # too few trials to read the order as a ranking
    evaluator: str = IMPORTANCE_EVALUATOR


class ImportanceCache:
    """Importances per (job id, trials done): recomputed only when more trials finished.
    Holds the ``size`` most recently used jobs."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: LRUCache[tuple[str, int], Importances] = LRUCache(maxsize=size)
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def get(self, key: tuple[str, int]) -> Importances | None:
        with self._lock:
            return self._items.get(key)  # a hit counts as a use

    def put(self, key: tuple[str, int], value: Importances) -> None:
        with self._lock:
            self._items[key] = value


def job_importances(
    storages: StudyStorages, cache: ImportanceCache, job: Job, *, seed: int = 0
) -> Importances:
    """Importances of ``job``'s study (PED-ANOVA, as its dashboard), cached per trials done."""
    key = (job.id, job.trials_done)
    cached = cache.get(key)
    if cached is not None:
        return cached
    study = storages.load(job)
    if study is None:
        return Importances(params={}, trials_used=0, message=NO_STUDY)
    try:
        params = param_importances(study, seed=seed)
    except ImportanceUnavailable as exc:
        result = Importances(params={}, trials_used=exc.trials_used, message=str(exc))
    else:
        used = len(usable_trials(study))
        result = Importances(params=params, trials_used=used, warning=ranking_warning(used))
    cache.put(key, result)
    return result


@dataclass(frozen=True)
class SensitivityGroup:
    """One prunable group (named by its root layer) pruned alone: accuracy at each keep
    ratio of :attr:`Sensitivity.keep_ratios`, and the mean drop over the pruned ones."""

    name: str
    accuracy: list[float]
    mean_drop: float


@dataclass(frozen=True)
class Sensitivity:
    """The study's sensitivity curves, most sensitive group first; empty with ``message``
    saying why (not measured yet, or a granularity that measures none)."""

    reference_accuracy: float | None
    keep_ratios: list[float] = field(default_factory=list)
    groups: list[SensitivityGroup] = field(default_factory=list)
    message: str | None = None


NOT_MEASURED = "sensitivity is not measured yet: the job measures it once, when it is prepared"
NOT_CHANNEL = "only channel granularity measures sensitivity (this job prunes unstructured)"


def job_sensitivity(storages: StudyStorages, job: Job) -> Sensitivity:
    """The curves ``job``'s search measured (its result's copy once it finished, else the
    study's): accuracy against keep ratio per group, the unpruned model's first."""
    if job_options(job).granularity != "channel":
        return Sensitivity(reference_accuracy=None, message=NOT_CHANNEL)
    stored = (job.result or {}).get("sensitivity")
    if not isinstance(stored, Mapping):
        study = storages.load(job)
        if study is None:
            return Sensitivity(reference_accuracy=None, message=NO_STUDY)
        stored = stored_sensitivity(study)
        if stored is None:
            return Sensitivity(reference_accuracy=None, message=NOT_MEASURED)
    return _curves(stored)


def _curves(stored: Mapping[str, Any]) -> Sensitivity:
    reference = float(stored["reference_accuracy"])
    # Stored as prune ratios and accuracy drops; shown as keep ratios and accuracies.
    keeps = [1.0, *(round(1.0 - float(r), 6) for r in stored["ratios"])]
    groups = []
    for name, drops in dict(stored["groups"]).items():
        values = [float(d) for d in drops]
        accuracy = [reference, *(reference - d for d in values)]
        mean = sum(values) / len(values) if values else 0.0
        groups.append(SensitivityGroup(name=str(name), accuracy=accuracy, mean_drop=mean))
    groups.sort(key=lambda g: -g.mean_drop)  # stable: model order among equals
    return Sensitivity(reference_accuracy=reference, keep_ratios=keeps, groups=groups)
