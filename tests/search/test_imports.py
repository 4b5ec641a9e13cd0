"""The search package's public surface. (That it imports neither Celery, FastAPI nor the
service is an import-linter contract in pyproject.toml, checked by .ci/test.)"""

from __future__ import annotations

import importlib


def test_exported_names_resolve() -> None:
    module = importlib.import_module("search")
    for name in module.__all__:
        assert getattr(module, name) is not None
    for name in ("SearchSpec", "run_search", "SearchResult", "Candidate"):
        assert name in module.__all__
