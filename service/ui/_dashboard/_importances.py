"""optuna-dashboard's parameter-importance cache, kept apart per storage.

optuna-dashboard caches importances in one process-wide dict keyed by study id alone
(``optuna_dashboard._importance.param_importance_cache``). Study ids are unique within a
storage, not across storages, so two jobs whose studies live in different storages could
read each other's importances (parameter names included). Each importance request runs
with that dict holding only its own storage's entries, swapped in and out under a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from optuna_dashboard import _importance

__all__ = ["own_importance_cache"]

if not isinstance(getattr(_importance, "param_importance_cache", None), dict):
    raise ImportError(
        "optuna_dashboard._importance.param_importance_cache is gone: check "
        "service/ui/_dashboard/_importances.py against this optuna-dashboard release"
    )

_lock = threading.Lock()
_kept: dict[str, dict[str, Any]] = {}  # storage key -> its entries


@contextmanager
def own_importance_cache(storage_key: str) -> Iterator[None]:
    """Run an importance request of ``storage_key``'s study with only that storage's cached
    importances visible (one such request at a time)."""
    cache: dict[str, Any] = _importance.param_importance_cache
    with _lock:
        with _importance.param_importance_cache_lock:
            cache.clear()
            cache.update(_kept.get(storage_key, {}))
        try:
            yield
        finally:
            with _importance.param_importance_cache_lock:
                _kept[storage_key] = dict(cache)
                cache.clear()
