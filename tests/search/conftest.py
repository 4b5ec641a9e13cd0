from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from search import SearchSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)


def tiny_spec(**overrides: Any) -> SearchSpec:
    """A digits search small enough for the suite: a few trials, one epoch each."""
    data: dict[str, Any] = {
        "name": "tiny",
        "model": {"zoo": "small_cnn", "kwargs": {"width": 8}, "pretrain_epochs": 6},
        "data": {"source": "digits"},
        "budget": {"max_macs": 0.4},
        "search": {"n_trials": 5, "seed": 0},
        "finetune": {
            "proxy_epochs": 1,
            "proxy_samples": 512,
            "final_epochs": 1,
            "finalists": 1,
            "distill": True,
        },
    }
    for dotted, value in overrides.items():
        section, _, key = dotted.partition("__")
        if key:
            data[section] = {**data.get(section, {}), key: value}
        else:
            data[section] = value
    return SearchSpec.parse(data)


@pytest.fixture(scope="session")
def reference_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny spec's trained unpruned model, shared by every search test."""
    return tmp_path_factory.mktemp("reference") / "small_cnn.safetensors"
