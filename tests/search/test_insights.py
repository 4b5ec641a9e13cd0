"""``search.insights`` on real Optuna studies: the optimisation history (trial order, kinds,
direction-aware best so far) and PED-ANOVA parameter importances (first objective), with the
warning below the trial count that can rank."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from search import (
    IMPORTANCE_EVALUATOR,
    MIN_RANKABLE_TRIALS,
    ImportanceUnavailable,
    SearchError,
    optimization_history,
    param_importances,
    ranking_warning,
    run_search,
)
from search._records import KIND
from search.insights import objective_direction
from tests.search.conftest import tiny_spec

SPACE = {
    "keep:features.0": FloatDistribution(0.05, 1.0),
    "keep:features.3": FloatDistribution(0.05, 1.0),
    "criterion": CategoricalDistribution(["l1", "l2"]),
}


def _score(params: dict[str, object]) -> float:
    """Driven by the first group's keep ratio; the second barely matters."""
    first, second = params["keep:features.0"], params["keep:features.3"]
    assert isinstance(first, float) and isinstance(second, float)
    return 0.2 + 0.7 * first + 0.01 * second


def _study(n: int = 30, *, direction: Literal["maximize", "minimize"] = "maximize") -> optuna.Study:
    """A study as search writes it: baselines enqueued with their kind, then search trials
    (the kind user attr), one failed and one pruned trial among them."""
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=1))
    study.enqueue_trial(
        {"keep:features.0": 0.5, "keep:features.3": 0.5, "criterion": "l2"},
        user_attrs={KIND: "uniform"},
    )
    study.enqueue_trial(
        {"keep:features.0": 0.7, "keep:features.3": 0.3, "criterion": "l2"},
        user_attrs={KIND: "global"},
    )
    for number in range(n):
        trial = study.ask(SPACE)
        if KIND not in trial.user_attrs:
            trial.set_user_attr(KIND, "search")
        if number == 4:
            study.tell(trial, state=TrialState.FAIL)
        elif number == 7:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, _score(trial.params))
    return study


@pytest.fixture(scope="module")
def study() -> optuna.Study:
    return _study()


def test_history_is_in_trial_order_with_kinds_states_and_values(study: optuna.Study) -> None:
    history = optimization_history(study)
    trials = study.get_trials()

    assert [p.number for p in history] == list(range(len(trials)))
    assert [p.kind for p in history[:3]] == ["uniform", "global", "search"]
    assert (history[4].state, history[4].value) == ("fail", None)
    assert (history[7].state, history[7].value) == ("pruned", None)
    assert history[0].value == pytest.approx(_score(trials[0].params))


def test_best_so_far_is_the_running_maximum(study: optuna.Study) -> None:
    history = optimization_history(study)
    best: float | None = None
    for point in history:
        if point.value is not None:
            best = point.value if best is None else max(best, point.value)
        assert point.best_so_far == best
    assert history[-1].best_so_far == study.best_value
    assert objective_direction(study) == "maximize"


def test_best_so_far_follows_a_minimised_objective() -> None:
    study = _study(10, direction="minimize")
    history = optimization_history(study)
    values = [p.value for p in history if p.value is not None]
    assert history[-1].best_so_far == min(values) == study.best_value
    assert objective_direction(study) == "minimize"


def test_a_multi_objective_study_is_read_on_its_first_objective() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    for score, cost in [(0.5, 10.0), (0.7, 30.0), (0.6, 1.0)]:
        trial = study.ask()
        trial.suggest_float("keep:a", 0.0, 1.0)
        study.tell(trial, [score, cost])

    history = optimization_history(study)

    assert [p.value for p in history] == [0.5, 0.7, 0.6]
    assert [p.best_so_far for p in history] == [0.5, 0.7, 0.7]
    assert [p.kind for p in history] == ["search"] * 3  # no kind attr: a search trial


def test_importances_rank_the_driving_parameter_first_and_repeat(study: optuna.Study) -> None:
    importances = param_importances(study, seed=0)

    assert set(importances) == set(SPACE)
    assert next(iter(importances)) == "keep:features.0"
    assert list(importances.values()) == sorted(importances.values(), reverse=True)
    assert sum(importances.values()) == pytest.approx(1.0)
    assert param_importances(study, seed=0) == importances


def test_importances_of_a_multi_objective_study_use_the_score() -> None:
    study = optuna.create_study(
        directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0)
    )
    for _ in range(20):
        trial = study.ask(SPACE)
        # the cost follows the second group only, the score the first
        study.tell(trial, [_score(trial.params), float(trial.params["keep:features.3"])])

    importances = param_importances(study)

    assert next(iter(importances)) == "keep:features.0"


def test_importances_are_optunas_ped_anova_on_the_score(study: optuna.Study) -> None:
    # The evaluator and target optuna-dashboard uses (the service test checks the
    # dashboard's own function): the objective, negated since it is maximized.
    expected = optuna.importance.get_param_importances(
        study,
        evaluator=optuna.importance.PedAnovaImportanceEvaluator(),
        target=lambda trial: -trial.values[0],
    )
    assert IMPORTANCE_EVALUATOR == "PED-ANOVA"
    assert param_importances(study) == pytest.approx(expected)
    assert list(param_importances(study)) == list(expected)


def test_a_ranking_needs_two_trials_in_ped_anovas_top_tenth() -> None:
    # PED-ANOVA's top set is ceil(10% of the trials): one trial up to 10 trials.
    assert MIN_RANKABLE_TRIALS == 11
    warning = ranking_warning(6)
    assert warning is not None and "only 6 complete trials" in warning
    assert "single trial" in warning and "11" in warning
    assert ranking_warning(10) is not None
    assert ranking_warning(11) is None and ranking_warning(500) is None


@pytest.mark.parametrize("complete", [0, 1])
def test_too_few_complete_trials_is_unavailable_with_a_reason(complete: int) -> None:
    study = optuna.create_study(direction="maximize")
    for number in range(complete + 2):
        trial = study.ask(SPACE)
        if number < complete:
            study.tell(trial, 0.5)
        else:
            study.tell(trial, state=TrialState.FAIL)

    with pytest.raises(ImportanceUnavailable, match="at least 2 complete trials") as caught:
        param_importances(study)

    assert caught.value.trials_used == complete
    assert isinstance(caught.value, SearchError)


def test_nothing_varying_is_unavailable_with_a_reason() -> None:
    same_score = optuna.create_study(direction="maximize")
    same_params = optuna.create_study(direction="maximize")
    for number in range(5):
        trial = same_score.ask(SPACE)
        same_score.tell(trial, 0.5)
        same_params.enqueue_trial({"keep:features.0": 0.5, "keep:features.3": 0.5})
        trial = same_params.ask({name: SPACE[name] for name in list(SPACE)[:2]})
        same_params.tell(trial, float(number))

    with pytest.raises(ImportanceUnavailable, match="scored the same"):
        param_importances(same_score)
    with pytest.raises(ImportanceUnavailable, match="did not vary") as caught:
        param_importances(same_params)
    assert caught.value.trials_used == 5


def test_a_real_search_study(reference_weights: Path, tmp_path: Path) -> None:
    """The user attrs a real run writes: baselines first, then search trials."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    spec = tiny_spec(search__n_trials=4, finetune__finalists=1, finetune__final_epochs=0)
    result = run_search(spec, storage=storage, reference_weights=reference_weights)
    study = optuna.load_study(study_name=result.study_name, storage=storage)

    history = optimization_history(study)
    importances = param_importances(study, seed=3)

    assert [p.kind for p in history[:3]] == ["uniform", "global", "sensitivity"]
    assert {p.kind for p in history[3:]} == {"search"}
    complete = [p for p in history if p.value is not None]
    assert history[-1].best_so_far == max(p.value for p in complete if p.value is not None)
    assert importances == param_importances(study, seed=3)
    assert set(importances) == {name for t in study.get_trials() for name in t.params}
