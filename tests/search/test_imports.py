from __future__ import annotations

import importlib
import subprocess
import sys


def test_search_never_imports_celery_fastapi_or_service() -> None:
    code = "import sys, search; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert not {"celery", "fastapi", "service", "workers"} & loaded


def test_exported_names_resolve() -> None:
    module = importlib.import_module("search")
    for name in module.__all__:
        assert getattr(module, name) is not None
    for name in ("SearchSpec", "run_search", "SearchResult", "Candidate"):
        assert name in module.__all__
