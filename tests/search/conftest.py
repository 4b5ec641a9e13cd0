from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest

from search import SearchSpec
from tests.specs import tiny

optuna.logging.set_verbosity(optuna.logging.WARNING)


def tiny_spec(**overrides: Any) -> SearchSpec:
    """A digits search small enough for the suite: a few trials, one epoch each."""
    data = tiny(search={"n_trials": 5})
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
