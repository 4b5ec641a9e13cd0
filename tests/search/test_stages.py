"""The stages one by one: floors and space, sensitivity baseline, search split, rungs shared
by two processes, resume mid-stage, an exact plan, and the paired choice of the best."""

from __future__ import annotations

import math
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from pruning import AnalysisReport, GroupInfo
from search import SearchCallback, SearchCancelled, SearchSession, TrialEvent, prepare
from search._records import CLAIM_PREFIX, SURPLUS, final_key, rung_key
from search.budget import BudgetMeter, Limits
from search.preparation import Prepared
from search.space import max_ratios, perturbed
from search.stages import (
    choose,
    curves_by_group,
    sensitivity_ratios,
    stage_data,
)
from search.stages._finals import Z, _pack, close_call
from tests.search.conftest import tiny_spec


@pytest.fixture(scope="module")
def prepared(reference_weights: Path) -> Prepared:
    return prepare(tiny_spec(), reference_weights=reference_weights)


def _session(prepared: Prepared, url: str, **kwargs: Any) -> SearchSession:
    return SearchSession(prepared, storage=url, **kwargs)


def test_floors_keep_min_channels_or_min_keep_of_each_layer() -> None:
    groups = tuple(
        GroupInfo(id=i, root=f"l{i}", layers=(f"l{i}",), channels=c)
        for i, c in enumerate((3, 16, 64))
    )
    # Floors read the groups alone.
    report = cast(AnalysisReport, SimpleNamespace(groups=groups))
    options = tiny_spec(search__min_keep=0.25, search__min_channels=8).search
    floors = max_ratios(report, options)
    # 3 channels: fewer than min_channels, kept whole; 16: 8 kept; 64: 25% = 16 kept.
    assert floors == {0: 0.0, 1: 0.5, 2: 0.75}
    ratios = perturbed({0: 0.0, 1: 0.3, 2: 0.6}, {0: 1.0, 1: -0.2, 2: -1.0}, 1.0, floors)
    assert ratios[0] == 0.0  # a kept-whole layer stays whole
    assert ratios[1] == pytest.approx(1.0 - 0.7 * math.exp(-0.2))  # within its floor
    assert ratios[2] == 0.75  # clipped at the floor
    assert perturbed({1: 0.3}, {1: 0.9}, 0.0, floors)[1] == pytest.approx(0.3)


def test_search_split_is_fixed_and_disjoint_from_the_fitting_data(prepared: Prepared) -> None:
    a, b = stage_data(prepared), stage_data(prepared)
    assert len(a.search) == min(300, int(0.2 * len(prepared.data.train)))
    assert len(a.search) + len(a.fit) == len(prepared.data.train)
    assert all(
        np.array_equal(x.numpy(), y.numpy())
        for x, y in zip(a.search.tensors, b.search.tensors, strict=True)
    )
    held = {tuple(row.flatten().tolist()) for row in a.search.tensors[0]}
    assert not any(tuple(row.flatten().tolist()) in held for row in a.fit.tensors[0][:200])
    # Nothing of validation: the split that chooses the final model.
    val = {tuple(row.flatten().tolist()) for row in prepared.data.val.tensors[0]}
    assert not held & val


def test_sensitivity_baseline_meets_the_budget_and_spares_fragile_groups(
    prepared: Prepared,
) -> None:
    reference = prepared.reference
    limits = Limits.from_spec(prepared.spec.budget, params=reference.params, macs=reference.macs)
    meter = BudgetMeter(prepared, round_to=1)
    floors = max_ratios(prepared.report, prepared.spec.search)
    groups = [g.root for g in prepared.report.groups]
    # The first group is fragile (loses everything at once), the others cost nothing.
    stored = {
        "reference_accuracy": 0.9,
        "ratios": [0.25, 0.5, 0.75],
        "groups": {
            root: [0.5, 0.8, 0.9] if i == 0 else [0.0, 0.0, 0.01] for i, root in enumerate(groups)
        },
    }
    curves = curves_by_group(prepared, stored)
    ratios = sensitivity_ratios(curves, meter, limits, max_ratio=floors)
    assert limits.feasible(meter.counts(ratios))
    first, *rest = (g.id for g in prepared.report.groups)
    assert ratios[first] < min(ratios[g] for g in rest)
    assert all(0.0 <= ratios[g] <= floors[g] for g in ratios)


def test_curves_never_fall_as_more_is_pruned(prepared: Prepared) -> None:
    groups = [g.root for g in prepared.report.groups]
    stored = {
        "reference_accuracy": 0.5,
        "ratios": [0.25, 0.5, 0.75],
        "groups": {root: [0.2, 0.1, 0.3] for root in groups},
    }
    for curve in curves_by_group(prepared, stored).values():
        drops = [d for _, d in curve]
        assert drops == sorted(drops)
        assert curve[0] == (0.0, 0.0) and curve[-1][0] == 1.0


def _trial(number: int, kind: str) -> optuna.trial.FrozenTrial:
    trial = optuna.trial.create_trial(value=0.0, user_attrs={"kind": kind})
    trial.number = number
    return trial


def _finals(correct: dict[int, list[bool]]) -> dict[str, Any]:
    return {
        final_key(n): {"accuracy": float(np.mean(c)), "correct": _pack(np.array(c))}
        for n, c in correct.items()
    }


def test_a_searched_candidate_replaces_the_baseline_only_above_the_noise() -> None:
    finalists = [_trial(0, "uniform"), _trial(1, "global"), _trial(5, "search")]
    n = 400
    base = [i % 10 != 0 for i in range(n)]  # 90%
    weak = [i % 10 not in (0, 1) for i in range(n)]  # 80%
    # Better by 2 images in 400: a margin well inside the noise.
    close = [b or i in (0, 10) for i, b in enumerate(base)]
    best, margins = choose(finalists, _finals({0: base, 1: weak, 5: close}))
    assert best.number == 0
    margin, se = margins[5]
    assert margin == pytest.approx(2 / n) and se is not None and margin < Z * se
    assert close_call(finalists, _finals({0: base, 1: weak, 5: close})) == {0, 5}
    # Better on every image the baseline missed: it stands, and is chosen.
    clear = [True] * n
    best, margins = choose(finalists, _finals({0: base, 1: weak, 5: clear}))
    assert best.number == 5
    assert margins[5][0] == pytest.approx(0.1) and margins[1][0] == pytest.approx(-0.1)
    assert close_call(finalists, _finals({0: base, 1: weak, 5: clear})) == set()


def test_two_sessions_share_screening_and_rungs_and_meet_the_plan_exactly(
    prepared: Prepared, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    a = _session(prepared, url, sampler_seed=1)
    a.enqueue_baselines()
    b = _session(prepared, url, sampler_seed=2)
    while not (a.finished() and b.finished()):
        ran = a.run_slice(max_trials=1) + b.run_slice(max_trials=1)
        assert ran > 0
    trials = a.study.get_trials()
    counted = [t for t in trials if not t.user_attrs.get(SURPLUS)]
    assert sum(t.state == TrialState.COMPLETE for t in counted) == prepared.spec.search.n_trials
    assert all(t.state != TrialState.RUNNING for t in trials)
    results = a.study.user_attrs
    members = [k for k in results if k.startswith("rung:1:")]
    # The three baselines and the best screened candidates (distinct architectures), each
    # trained once.
    searched = a.halving.searched(a.study, 1)
    assert searched is not None and 1 <= len(searched) <= 2
    assert len(members) == 3 + len(searched)
    assert a.in_flight() == 0 and a.stage() == "final"


def test_a_claimed_rung_item_is_left_to_its_process_until_the_claim_is_stale(
    prepared: Prepared, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    session = _session(prepared, url)
    session.enqueue_baselines()
    while not session.screened():
        session.run_slice(max_trials=1)
    k, items = session.halving.missing(session.study)
    assert k == 1 and len(items) >= 4
    # Another process claimed every item but the last just now: only the last is ours.
    for trial in items[:-1]:
        session.study.set_user_attr(f"{CLAIM_PREFIX}{rung_key(1, trial.number)}", time.time())
    assert session.run_slice() == 1
    assert rung_key(1, items[-1].number) in session.study.user_attrs
    assert session.in_flight() == len(items) - 1 and not session.finished()
    # The claims grow stale (a dead worker): the items are taken over.
    for trial in items[:-1]:
        session.study.set_user_attr(f"{CLAIM_PREFIX}{rung_key(1, trial.number)}", 0.0)
    assert session.run_slice() == len(items) - 1
    assert session.finished()


class _StopAfterRungItems(SearchCallback):
    def __init__(self, items: int) -> None:
        self.items = items
        self.seen = 0

    def on_trial_end(self, event: TrialEvent) -> None:
        if event.stage != "screen" and event.candidate.fidelity == "rung-1":
            self.seen += 1

    def should_stop(self) -> bool:
        return self.seen >= self.items


def test_resume_mid_rung_redoes_nothing_finished(prepared: Prepared, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = _session(prepared, url, callbacks=[_StopAfterRungItems(2)])
    first.enqueue_baselines()
    with pytest.raises(SearchCancelled):
        first.run_slice()
    done = {k: v for k, v in first.study.user_attrs.items() if k.startswith("rung:")}
    assert len(done) == 2
    second = _session(prepared, url)
    second.enqueue_baselines()  # idempotent: nothing enqueued twice
    second.run_slice()
    after = second.study.user_attrs
    assert all(after[k] == v for k, v in done.items())
    searched = second.halving.searched(second.study, 1)
    assert searched is not None
    assert len([k for k in after if k.startswith("rung:")]) == 3 + len(searched)
    kinds = [t.user_attrs.get("kind") for t in second.study.get_trials()]
    assert kinds.count("uniform") == kinds.count("global") == kinds.count("sensitivity") == 1
    result = second.finalize()
    assert result.best is not None and result.best.fidelity == "final"
    rung_members = {t.number for t in searched} | {
        c.number for c in result.leaderboard if c.kind != "search"
    }
    for candidate in result.leaderboard:
        # Every rung member went on to the finals (one rung, finalists cover them here).
        assert (candidate.fidelity != "screen") == (candidate.number in rung_members)


def test_a_twin_of_a_baseline_or_of_another_candidate_takes_no_rung_slot(
    prepared: Prepared,
) -> None:
    from search.stages._halving import best_screened

    report = prepared.report
    root = report.groups[0].root

    def trial(number: int, kind: str, ratio: float, proxy: float) -> optuna.trial.FrozenTrial:
        made = optuna.trial.create_trial(
            value=proxy,
            user_attrs={
                "kind": kind,
                "feasible": True,
                "proxy_score": proxy,
                "ratios": {root: ratio},
                "criterion": "l2",
            },
        )
        made.number = number
        return made

    channels = report.groups[0].channels
    same = 1.0 / (4 * channels)  # rounds to the same channel count as 0.0
    trials = [
        trial(0, "uniform", 0.5, 0.5),
        trial(1, "search", 0.5, 0.9),  # the uniform baseline's twin
        trial(2, "search", 0.25, 0.8),
        trial(3, "search", 0.25 + same, 0.7),  # the same channels as #2
        trial(4, "search", 0.0, 0.6),
    ]
    chosen = best_screened(trials, 3, report, round_to=1)
    assert [t.number for t in chosen] == [2, 4]
