"""Layering: ``workers`` sits below ``service`` and never imports it."""

from __future__ import annotations

import importlib
import subprocess
import sys


def test_workers_never_import_the_service_or_the_web_stack() -> None:
    code = "import sys, workers; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert not {"service", "fastapi", "starlette", "uvicorn"} & loaded


def test_exported_names_resolve() -> None:
    module = importlib.import_module("workers")
    assert module.__all__ == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
    for name in module.__all__:
        assert getattr(module, name) is not None
