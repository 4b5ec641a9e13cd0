"""End to end on digits: stages, baselines, budgets, finals, resume, determinism, faults."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from pruning import Policy, apply_policy, load_bundle, measure, zoo
from search import (
    BudgetError,
    SearchCallback,
    SearchCancelled,
    SearchResult,
    TrialEvent,
    make_storage,
    prepare,
    run_search,
)
from search.candidates import Candidate
from search.runner import open_study
from search.stages import Objective
from search.stages._finals import Z
from tests.search.conftest import tiny_spec


@pytest.fixture(scope="module")
def result(reference_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> SearchResult:
    storage = f"sqlite:///{tmp_path_factory.mktemp('study') / 'study.db'}"
    return run_search(tiny_spec(), storage=storage, reference_weights=reference_weights)


def test_leaderboard_holds_the_three_baselines_and_every_trial(result: SearchResult) -> None:
    kinds = [c.kind for c in result.leaderboard]
    for baseline in ("uniform", "global", "sensitivity"):
        assert kinds.count(baseline) == 1
        candidate = result.baseline(baseline)
        assert candidate is not None
        assert candidate.fidelity == "final"
        assert candidate.accuracy is not None
        assert candidate.test_accuracy is not None
    assert len(result.leaderboard) == 5


def test_every_candidate_carries_the_stage_it_reached(result: SearchResult) -> None:
    by_fidelity: dict[str, list[Candidate]] = {}
    for candidate in result.leaderboard:
        by_fidelity.setdefault(candidate.fidelity, []).append(candidate)
    # tiny: 2 screened searched candidates enter the one rung, 1 reaches the finals.
    searched_final = [c for c in by_fidelity["final"] if c.kind == "search"]
    assert len(searched_final) == 1
    for candidate in result.leaderboard:
        assert candidate.proxy_score is not None
        if candidate.fidelity == "screen":
            assert candidate.rung_score is None and candidate.accuracy is None
        else:
            assert candidate.rung_score is not None
        assert candidate.score == (
            candidate.accuracy
            if candidate.accuracy is not None
            else candidate.rung_score
            if candidate.rung_score is not None
            else candidate.proxy_score
        )
    # Ranked by the stage reached first: the finalists lead.
    levels = [c.fidelity == "final" for c in result.leaderboard]
    assert levels == sorted(levels, reverse=True)


def test_best_is_chosen_by_a_paired_margin_over_the_best_baseline(result: SearchResult) -> None:
    best = result.best
    assert best is not None
    assert best.feasible and best.accuracy is not None and best.test_accuracy is not None
    finals = [c for c in result.leaderboard if c.fidelity == "final"]
    baselines = [c for c in finals if c.kind != "search"]
    top = max(baselines, key=lambda c: (c.accuracy or 0.0, -c.number))
    assert top.margin == 0.0
    for candidate in finals:
        assert candidate.margin is not None and candidate.margin_se is not None
        assert candidate.margin == pytest.approx(
            (candidate.accuracy or 0.0) - (top.accuracy or 0.0)
        )
    if best.kind == "search":
        assert best.margin is not None and best.margin_se is not None
        assert best.margin > Z * best.margin_se
    else:
        assert best.number == top.number
        assert not any(
            c.kind == "search" and (c.margin or 0.0) > Z * (c.margin_se or 0.0) for c in finals
        )
    assert result.gain_over("uniform") is not None
    assert result.gain_over("uniform", split="test") is not None


def test_sensitivity_curves_are_stored_with_the_result(result: SearchResult) -> None:
    curves = result.sensitivity
    assert curves is not None
    assert curves["ratios"] == [0.25, 0.5, 0.75]
    assert set(curves["groups"]) == {layer.name for layer in result.reference.layers} & set(
        curves["groups"]
    )
    assert all(len(drops) == 3 for drops in curves["groups"].values())


def test_feasible_candidates_meet_the_budget_by_measured_figures(
    result: SearchResult, reference_weights: Path
) -> None:
    prepared = prepare(tiny_spec(), reference_weights=reference_weights)
    limit = result.limits.max_macs
    assert limit is not None
    assert result.reference.macs == prepared.reference.macs
    for candidate in result.leaderboard:
        if not candidate.ratios:
            continue
        policy = Policy(ratios=candidate.ratios, criterion=candidate.criterion or "l2")
        pruned = apply_policy(prepared.model, policy, prepared.example_inputs)
        macs = measure(pruned, prepared.example_inputs).macs
        assert macs == candidate.macs
        assert candidate.feasible == (macs <= limit)


def test_best_bundle_loads_and_reproduces_the_model(result: SearchResult, tmp_path: Path) -> None:
    folder = result.save_best(tmp_path / "best", onnx=False)
    restored = load_bundle(
        folder, lambda: zoo.build("small_cnn", num_classes=10, in_channels=1, width=8)
    )
    x = torch.randn(4, 1, 8, 8)
    assert result.best_model is not None
    assert torch.allclose(restored(x), result.best_model.eval()(x), atol=1e-5)


def test_rank_correlation_is_recorded_when_defined(result: SearchResult) -> None:
    finalised = [c for c in result.leaderboard if c.accuracy is not None]
    if len(finalised) >= 3:
        assert result.rank_correlation is None or -1.0 <= result.rank_correlation <= 1.0


def test_unreachable_budget_is_refused_before_any_trial(
    reference_weights: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(BudgetError, match="smallest achievable") as info:
        run_search(
            tiny_spec(budget={"max_macs": 0.001}), storage=url, reference_weights=reference_weights
        )
    assert info.value.field == "budget.max_macs"
    assert optuna.get_all_study_summaries(url) == []


def test_resume_continues_the_same_study(reference_weights: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = run_search(
        tiny_spec(search={"n_trials": 3, "seed": 0}),
        storage=url,
        reference_weights=reference_weights,
    )
    second = run_search(
        tiny_spec(search={"n_trials": 4, "seed": 0}),
        storage=url,
        reference_weights=reference_weights,
    )
    assert second.study_name == first.study_name
    before = {c.number: c.ratios for c in first.leaderboard}
    after = {c.number: c.ratios for c in second.leaderboard}
    assert len(after) == 4
    assert all(after[n] == ratios for n, ratios in before.items())
    # Baselines were not enqueued twice.
    assert [c.kind for c in second.leaderboard].count("uniform") == 1


def test_same_seed_gives_the_same_policies(reference_weights: Path) -> None:
    spec = tiny_spec(search={"n_trials": 4, "seed": 3}, finetune={"final_epochs": 0})
    a = run_search(spec, reference_weights=reference_weights)
    b = run_search(spec, reference_weights=reference_weights)
    ratios = lambda r: {c.number: c.ratios for c in r.leaderboard}  # noqa: E731
    assert ratios(a) == ratios(b)


def test_a_failing_trial_fails_alone(
    reference_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Objective.prune
    calls = {"n": 0}

    def flaky(self: Objective, policy: Policy) -> torch.nn.Module:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("CUDA out of memory (injected)")
        return original(self, policy)

    monkeypatch.setattr(Objective, "prune", flaky)
    result = run_search(
        tiny_spec(search={"n_trials": 4, "seed": 0}, finetune={"final_epochs": 0}),
        reference_weights=reference_weights,
    )
    states = [c.state for c in result.leaderboard]
    assert states.count("fail") == 1
    assert result.best is not None


class _StopAfter(SearchCallback):
    def __init__(self, trials: int) -> None:
        self.trials = trials
        self.seen = 0

    def on_trial_end(self, event: TrialEvent) -> None:
        self.seen = event.trials_done
        assert event.trials_planned == 5

    def should_stop(self) -> bool:
        return self.seen >= self.trials


def test_cancellation_keeps_finished_trials(reference_weights: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(SearchCancelled):
        run_search(
            tiny_spec(), storage=url, callbacks=[_StopAfter(2)], reference_weights=reference_weights
        )
    (summary,) = optuna.get_all_study_summaries(url)
    study = optuna.load_study(study_name=summary.study_name, storage=url)
    assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) == 2


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_trial_of_a_dead_process_is_failed_and_retried(
    reference_weights: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    spec = tiny_spec(search={"n_trials": 3, "seed": 0}, finetune={"final_epochs": 0})
    storage = make_storage(url, heartbeat_s=1, grace_s=2)
    study = open_study(spec, storage)
    # A trial whose process died: it started, beat once, and was never finished.
    dead = study.ask({"spread": optuna.distributions.FloatDistribution(0.0, 1.0)})
    assert storage is not None
    storage.record_heartbeat(dead._trial_id)  # type: ignore[attr-defined]
    time.sleep(3)
    run_search(spec, storage=storage, reference_weights=reference_weights)
    trials = optuna.load_study(study_name=study.study_name, storage=url).get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retried) == 1
