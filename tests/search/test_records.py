"""The trial record: what the writers put in a study is what the readers get back."""

from __future__ import annotations

import math

import optuna
import pytest

from search import _records as rec
from search import finite, json_safe
from search.candidates import Candidate, from_trial, rank_key, score


@pytest.fixture
def study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction="maximize")


def test_a_screened_trial_reads_back_as_its_candidate(study: optuna.Study) -> None:
    trial = study.ask()
    rec.write_kind(trial, "search")
    rec.write_measured(
        trial,
        ratios={"conv1": 0.5},
        criterion="l2",
        params=100,
        macs=200,
        latency_ms=1.5,
        violations={"macs": -10.0},
    )
    rec.write_timings(trial, {"prune_s": 1.0, "proxy_s": 2.0})
    rec.write_proxy(trial, 0.75)
    study.tell(trial, 0.75)
    rec.write_rung(study, 1, trial.number, score=0.8, seconds=3.0)
    rec.write_rung(study, 2, trial.number, score=0.82, seconds=6.0)

    frozen = study.trials[0]
    candidate = from_trial(frozen, study.user_attrs)
    assert (candidate.kind, candidate.ratios, candidate.criterion) == (
        "search",
        {"conv1": 0.5},
        "l2",
    )
    assert (candidate.params, candidate.macs, candidate.latency_ms) == (100, 200, 1.5)
    assert candidate.feasible and candidate.proxy_score == 0.75
    assert (candidate.fidelity, candidate.rung_score) == ("rung-2", 0.82)
    assert rec.rung_seconds(study.user_attrs) == [3.0, 6.0]

    rec.write_final(study, 0, {rec.ACCURACY: 0.9, rec.TIMINGS: {"final_s": 9.0}})
    final = from_trial(frozen, study.user_attrs)
    assert (final.fidelity, final.accuracy, final.score) == ("final", 0.9, 0.9)
    assert final.timings == {"prune_s": 1.0, "proxy_s": 2.0, "final_s": 9.0}
    assert rec.finals_done(study.user_attrs) == {0}
    assert rec.has_final(study.user_attrs, 0) and not rec.has_final(
        study.user_attrs, 0, second=True
    )


def test_claims_surplus_and_best(study: optuna.Study) -> None:
    trial = study.ask()
    rec.mark_surplus(trial)
    assert rec.is_surplus(trial) and rec.kind(trial) is None
    assert rec.claimed_at(study.user_attrs, 1, 0) is None
    rec.write_claim(study, 1, 0, 123.0)
    assert rec.claimed_at(study.user_attrs, 1, 0) == 123.0
    assert rec.best_number(study.user_attrs) is None
    rec.write_best(study, 0)
    assert rec.best_number(study.user_attrs) == 0
    assert rec.enqueued_attrs("uniform") == {rec.KIND: "uniform"}


def test_score_reads_objects_and_mappings_alike() -> None:
    screened = Candidate(0, "search", "complete", proxy_score=0.5)
    rung = Candidate(1, "search", "complete", proxy_score=0.5, rung_score=0.6, fidelity="rung-1")
    final = Candidate(
        2, "search", "complete", proxy_score=0.5, rung_score=0.6, accuracy=0.7, fidelity="final"
    )
    assert [score(c) for c in (screened, rung, final)] == [0.5, 0.6, 0.7]
    assert [score(c.to_dict()) for c in (screened, rung, final)] == [0.5, 0.6, 0.7]
    assert score({"number": 3}) is None
    assert Candidate.from_dict({**final.to_dict(), "unknown": 1}) == final
    # The furthest stage first, whatever the score; then the score; then the oldest.
    weak = Candidate(3, "search", "complete", accuracy=0.1, fidelity="final")
    high = Candidate(4, "search", "complete", proxy_score=0.99)
    assert sorted([high, rung, weak, final], key=rank_key) == [final, weak, rung, high]


def test_one_nan_rule() -> None:
    assert finite(math.nan) is None and finite(math.inf) is None and finite(None) is None
    assert finite(1) == 1.0 and isinstance(finite(1), float)
    assert json_safe({1: [math.nan, (2.0, -math.inf)], "a": {"b": True}}) == {
        "1": [None, [2.0, None]],
        "a": {"b": True},
    }
