"""Reading jobs' Optuna studies from the API: storages shared per URL, importances cached.

Opening an :class:`optuna.storages.RDBStorage` builds an engine and checks Optuna's schema:
far too slow per request. :class:`StudyStorages` opens one per URL, lazily, and shares it
between requests (the app keeps one and closes it at shutdown). Importances are not cheap:
:class:`ImportanceCache` keeps each job's answer until its trial count moves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

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
    usable_trials,
)
from service.models import Job
from service.settings import normalize_database_url

__all__ = [
    "NO_STUDY",
    "History",
    "ImportanceCache",
    "Importances",
    "StudyStorages",
    "job_history",
    "job_importances",
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
