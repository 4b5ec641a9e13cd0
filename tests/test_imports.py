"""Layering and public surfaces: imports point downwards only, exported names resolve."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest


def _modules_after_import(package: str) -> set[str]:
    code = f"import sys, {package}; print('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_pruning_never_imports_optuna_or_upper_layers() -> None:
    loaded = _modules_after_import("pruning")
    assert not {"optuna", "search", "workers", "service", "celery", "fastapi"} & loaded


@pytest.mark.parametrize("package", ["pruning"])
def test_exported_names_resolve(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__ == sorted(module.__all__, key=lambda n: (not n.isupper(), n))
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_design_contract_names_are_exported() -> None:
    import pruning

    for name in (
        "analyze",
        "Policy",
        "apply_policy",
        "measure",
        "finetune",
        "save_bundle",
        "load_bundle",
        "sensitivity",
    ):
        assert name in pruning.__all__
