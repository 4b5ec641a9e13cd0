from __future__ import annotations

from pathlib import Path

import pytest

from search import SearchSpec, SpecError
from tests.search.conftest import tiny_spec

DESIGN_EXAMPLE = {
    "name": "fmnist-small-cnn",
    "model": {
        "zoo": "small_cnn",
        "kwargs": {"num_classes": 10, "in_channels": 1},
        "weights": None,
        "pretrain_epochs": 3,
        "input_shape": [1, 28, 28],
    },
    "data": {"source": "fashion-mnist", "train_subset": 20000, "val_fraction": 0.1},
    "budget": {
        "max_macs": 0.25,
        "max_params": None,
        "max_latency_ms": None,
        "latency": {"device": "cpu", "batch_size": 1, "threads": 1},
    },
    "search": {
        "n_trials": 40,
        "parallelism": 2,
        "sampler": "tpe",
        "seed": 0,
        "objectives": ["accuracy"],
        "criterion": "l2",
        "granularity": "channel",
        "min_keep": 0.05,
        "round_to": 1,
    },
    "finetune": {"proxy_epochs": 1, "final_epochs": 5, "finalists": 3, "lr": 0.01, "distill": True},
}


def test_design_example_parses() -> None:
    spec = SearchSpec.parse(DESIGN_EXAMPLE)
    assert spec.model.input_shape == (1, 28, 28)
    assert spec.search.criteria == ("l2",)
    # The single-stage proxy (1 epoch on 4,096 samples) is read as the first rung's budget.
    assert spec.finetune.rung_steps == 32


@pytest.mark.parametrize(
    ("finetune", "rungs", "steps"),
    [
        ({"proxy_epochs": 2, "proxy_samples": 512}, 2, 8),
        ({"proxy_epochs": 0}, 0, 50),
        ({"proxy_epochs": 1, "proxy_samples": 512, "rung_steps": 7}, 2, 7),
    ],
)
def test_single_stage_fields_map_onto_the_stages(
    finetune: dict[str, object], rungs: int, steps: int
) -> None:
    spec = SearchSpec.parse(
        {**DESIGN_EXAMPLE, "search": {"pruner": "median"}, "finetune": finetune}
    )
    assert (spec.finetune.rungs, spec.finetune.rung_steps) == (rungs, steps)
    assert "pruner" not in spec.model_dump()["search"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"search": {"n_trials": 10**30}}, "search.n_trials"),
        ({"search": {"n_trials": 2}}, "search.n_trials"),
        ({"budget": {"max_macs": float("inf")}}, "budget.max_macs"),
        ({"budget": {"max_params": float("nan")}}, "budget.max_params"),
        ({"finetune": {"lr": 1e308}}, "finetune.lr"),
        ({"finetune": {"rungs": 99}}, "finetune.rungs"),
    ],
)
def test_extreme_numbers_name_the_field(patch: dict[str, object], field: str) -> None:
    with pytest.raises(SpecError) as info:
        SearchSpec.parse({**DESIGN_EXAMPLE, **patch})
    assert info.value.field == field


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"surprise": 1}, "surprise"),
        ({"model": {"zoo": "vgg99"}}, "model.zoo"),
        ({"model": {"zoo": "mlp", "factory": "a.b:c"}}, "model"),
        ({"model": {"factory": "not a factory"}}, "model.factory"),
        ({"model": {"zoo": "mlp", "pretrain_epochs": "many"}}, "model.pretrain_epochs"),
        ({"data": {"source": "cifar"}}, "data.source"),
        ({"data": {"source": "tensors"}}, "data"),
        ({"budget": {}}, "budget"),
        ({"budget": {"max_macs": -1}}, "budget.max_macs"),
        ({"search": {"sampler": "grid"}}, "search.sampler"),
        ({"search": {"criterion": "l9"}}, "search"),
        ({"search": {"objectives": ["macs"]}}, "search"),
        ({"search": {"objectives": ["accuracy", "macs"], "sampler": "cmaes"}}, "search"),
        ({"finetune": {"lr": 0}}, "finetune.lr"),
        ({"finetune": {"epochs": 3}}, "finetune.epochs"),
    ],
)
def test_bad_specs_name_the_field(patch: dict[str, object], field: str) -> None:
    data = {**DESIGN_EXAMPLE, **patch}
    with pytest.raises(SpecError) as info:
        SearchSpec.parse(data)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_fingerprint_ignores_trial_count_but_not_budget() -> None:
    a = tiny_spec()
    assert a.fingerprint() == tiny_spec(search__n_trials=50).fingerprint()
    assert a.fingerprint() != tiny_spec(budget={"max_macs": 0.3}).fingerprint()


def test_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("model: {zoo: mlp}\nbudget: {max_params: 0.5}\n")
    assert SearchSpec.from_yaml(path).budget.max_params == 0.5
    with pytest.raises(SpecError, match="cannot read"):
        SearchSpec.from_yaml(tmp_path / "missing.yaml")


def test_several_criteria_are_searched() -> None:
    spec = tiny_spec(search={"criterion": ["l1", "fpgm"]})
    assert spec.search.criteria == ("l1", "fpgm")


def test_validate_checks_data_model_and_budget_without_training(tmp_path: Path) -> None:
    from search import BudgetError, validate

    reference = validate(tiny_spec(), resolve=Path)
    assert reference.macs > 0
    assert reference.pretrain_seconds == 0.0
    with pytest.raises(BudgetError, match="smallest achievable"):
        validate(tiny_spec(budget={"max_macs": 0.0001}), resolve=Path)
    with pytest.raises(SpecError) as info:
        validate(tiny_spec(data={"source": "tensors", "tensors": "nope"}), resolve=Path)
    assert info.value.field == "data.tensors"
    with pytest.raises(SpecError) as info:
        validate(
            tiny_spec(model={"factory": "tests.search.conftest:tiny_spec"}),
            resolve=Path,
            allowed_factories=["mypackage"],
        )
    assert info.value.field == "model.factory"


def test_the_one_error_formatter_words_every_validation_error_alike() -> None:
    from pydantic import BaseModel, ValidationError

    from search import first_problem

    with pytest.raises(SpecError) as caught:
        tiny_spec(budget__bogus=1, search__n_trials=-1)
    assert caught.value.field == "budget.bogus"
    assert str(caught.value) == "budget.bogus: unknown field (and 1 more error)"

    class Query(BaseModel):
        limit: int

    with pytest.raises(ValidationError) as invalid:
        Query.model_validate({"limit": "many"})
    errors = [{**error, "loc": ("query", *error["loc"])} for error in invalid.value.errors()]
    problem = first_problem(errors, drop_first={"query"})
    assert (problem.field, problem.location) == ("limit", ("limit",))
    assert str(problem).startswith("limit: Input should be a valid integer")
    assert str(first_problem([])) == "invalid value"
