"""The workers package's public surface. (That ``workers`` sits below ``service`` and never
imports it or the web stack is an import-linter contract in pyproject.toml, checked by
.ci/test.)"""

from __future__ import annotations

import importlib


def test_exported_names_resolve() -> None:
    module = importlib.import_module("workers")
    assert module.__all__ == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
    for name in module.__all__:
        assert getattr(module, name) is not None
