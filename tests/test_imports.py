"""Public surfaces: exported names resolve. (The layering itself, imports pointing downwards
only, is declared as import-linter contracts in pyproject.toml, which .ci/test checks.)"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

LAYERS = ("pruning", "search", "workers", "service")
# Entry points that do their work on import: service.worker builds the Celery app (and
# needs a broker for it).
NOT_IMPORTED = {"service.worker"}


def _public_modules() -> list[str]:
    names = []
    for top in LAYERS:
        package = importlib.import_module(top)
        found = [m.name for m in pkgutil.walk_packages(package.__path__, f"{top}.")]
        names += [
            name
            for name in (top, *found)
            if name not in NOT_IMPORTED and not any(p.startswith("_") for p in name.split("."))
        ]
    return names


PUBLIC_MODULES = _public_modules()


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_exported_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        # The library layers export a surface from every package.
        assert not (hasattr(module, "__path__") and name.split(".")[0] != "service"), name
        return
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    missing = [n for n in exported if getattr(module, n, None) is None]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"


def test_the_walk_finds_the_folded_modules() -> None:
    # Guards the walk itself: single-module packages became modules, and are still checked.
    assert {"search.spec", "search.space", "pruning.sensitivity", "workers.dispatch"} <= set(
        PUBLIC_MODULES
    )


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
