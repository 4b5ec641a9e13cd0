"""Upper bounds on a job's cost (service.jobs.COST_BOUNDS): a spec over any bound is refused
at POST /v1/jobs with 422 naming the field, the bound and its setting; nothing is stored."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from search import SearchSpec
from service.jobs import COST_BOUNDS, Bound
from service.settings import Settings
from tests.service.factories import SPEC, ApiEnv, api_env

# Small bounds (the spec's defaults just fit), so that values over them are cheap to write.
LIMITS: dict[str, Any] = {
    "max_trials": 20,
    "max_parallelism": 3,
    "max_epochs": 5,
    "max_finalists": 3,
    "max_batch_size": 128,
    "max_lr": 0.5,
    "max_train_samples": 500,
    "max_input_elements": 100,
    "max_threads": 2,
    "max_rung_steps": 50,
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    root = tmp_path_factory.mktemp("limits")
    with api_env(f"sqlite:///{root / 'db.sqlite'}", root / "store", **LIMITS) as e:
        yield e


@pytest.fixture(scope="module")
def alice(env: ApiEnv) -> dict[str, str]:
    return env.key("alice")


def test_every_bound_names_a_setting_and_a_spec_field() -> None:
    """The table stays in step with Settings and SearchSpec (a renamed field fails here)."""
    fields = Settings.model_fields
    full = SearchSpec.parse(_with(copy.deepcopy(SPEC), "model.input_shape", [1, 8, 8]))
    for bound in COST_BOUNDS:
        assert bound.setting in fields, bound
        value: Any = full
        for part in bound.path.split("."):
            assert hasattr(value, part), bound
            value = getattr(value, part)
    assert set(LIMITS) == {bound.setting for bound in COST_BOUNDS}


@pytest.mark.parametrize("bound", COST_BOUNDS, ids=lambda bound: bound.path)
def test_over_the_bound_is_422_naming_field_and_bound(
    env: ApiEnv, alice: dict[str, str], bound: Bound
) -> None:
    limit = LIMITS[bound.setting]
    over = [1, limit + 1] if bound.path == "model.input_shape" else _above(limit)
    before = env.counts()

    response = env.client.post(
        "/v1/jobs", headers=alice, json=_with(copy.deepcopy(SPEC), bound.path, over)
    )

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == bound.path
    assert f"limit of {limit}" in body["detail"]
    assert f"PRUNESEARCH_{bound.setting.upper()}" in body["detail"]
    assert env.counts() == before
    assert env.dispatcher.calls == []


def test_at_the_bound_is_accepted(env: ApiEnv, alice: dict[str, str]) -> None:
    spec = copy.deepcopy(SPEC)
    spec["search"] = {"n_trials": LIMITS["max_trials"], "parallelism": LIMITS["max_parallelism"]}
    spec["finetune"] = {"final_epochs": LIMITS["max_epochs"], "finalists": LIMITS["max_finalists"]}

    response = env.client.post("/v1/jobs", headers=alice, json=spec)

    assert response.status_code == 202, response.text


def test_a_huge_integer_is_refused_before_the_database(env: ApiEnv, alice: dict[str, str]) -> None:
    response = env.client.post(
        "/v1/jobs", headers=alice, json=_with(copy.deepcopy(SPEC), "search.n_trials", 10**18)
    )

    assert response.status_code == 422
    assert response.json()["field"] == "search.n_trials"


def test_bounds_are_settings_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert all(getattr(defaults, bound.setting) > 0 for bound in COST_BOUNDS)
    for setting in LIMITS:
        monkeypatch.setenv(f"PRUNESEARCH_{setting.upper()}", "7")
    assert all(getattr(Settings(), setting) == 7 for setting in LIMITS)


def _above(limit: float) -> float:
    return limit + 1 if isinstance(limit, int) else limit * 2


def _with(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *sections, name = path.split(".")
    node = spec
    for section in sections:
        node = node.setdefault(section, {})
    node[name] = value
    return spec


def test_a_model_too_large_to_build_is_refused_before_it_is_built(
    env: ApiEnv, alice: dict[str, str]
) -> None:
    spec = copy.deepcopy(SPEC)
    # About 2.5e9 parameters (10 GB of float32): sized on the meta device, never allocated.
    spec["model"] = {"zoo": "mlp", "kwargs": {"hidden": [50_000, 50_000]}}
    before = env.counts()

    response = env.client.post("/v1/jobs", headers=alice, json=spec)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["field"] == "model.kwargs"
    assert "over this server's limit of 200,000,000" in body["detail"]
    assert env.counts() == before
