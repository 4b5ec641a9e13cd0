"""optuna-dashboard WSGI apps, kept per FastAPI app: the last :data:`DASHBOARDS_KEPT` used."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import cast

import optuna_dashboard
from a2wsgi.wsgi_typing import WSGIApp
from cachetools import LRUCache
from fastapi import Request
from optuna.storages import BaseStorage

from service.exceptions import StudyNotCreated
from service.ui._dashboard._storage import OneStudyView

__all__ = ["DASHBOARDS_KEPT", "Dashboard", "Dashboards", "get_dashboards"]

DASHBOARDS_KEPT = 32  # WSGI apps per FastAPI app, the most recently used (one per study)


@dataclass(frozen=True)
class Dashboard:
    study_id: int
    app: WSGIApp


class Dashboards:
    """optuna-dashboard apps per (storage URL, study name), the last ``size`` used. A study
    not created yet is not remembered: the next request looks again."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._apps: LRUCache[tuple[str, str], Dashboard] = LRUCache(maxsize=size)
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def get(self, storage: BaseStorage, key: tuple[str, str]) -> Dashboard:
        """The dashboard of study ``key[1]`` in ``storage`` (whose URL is ``key[0]``).

        Raises:
            StudyNotCreated: the storage has no such study (yet).
        """
        with self._lock:
            found = self._apps.get(key)  # a hit counts as a use
            if found is not None:
                return found
        built = _build(storage, key[1])  # outside the lock: it reads the database
        with self._lock:
            self._apps[key] = built  # drops the least recently used beyond ``size``
        return built

    def __len__(self) -> int:
        with self._lock:
            return len(self._apps)


def _build(storage: BaseStorage, study_name: str) -> Dashboard:
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        raise StudyNotCreated(study_name) from None
    app = optuna_dashboard.wsgi(OneStudyView(storage, study_id, study_name))
    return Dashboard(study_id=study_id, app=cast(WSGIApp, app))


def get_dashboards(request: Request) -> Dashboards:
    """The app's dashboards (made by its lifespan, like the storages they read: see
    :func:`service.api.deps.get_study_storages`)."""
    return cast(Dashboards, request.app.state.optuna_dashboards)
