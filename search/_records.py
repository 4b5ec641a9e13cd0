"""The trial record: what the stages write into a study, and how it is read back.

Every stage keeps its results in Optuna's user attributes so that any process sharing the
study sees them. Each key is spelled here once, and every writer (the stages, the session)
and every reader (candidates, insights) goes through these helpers, so the two cannot
drift apart.

Trial user attributes (the screening trial's own record)::

    kind, ratios, criterion, params, macs, latency_ms, feasible, constraints,
    proxy_score, timings, surplus

Study user attributes (the later stages' results, keyed by trial number)::

    rung:{k}:{number}   -> {"score", "seconds"}
    final:{number}      -> {"accuracy", "test_accuracy", "margin", "margin_se", "timings",
                            "correct"}
    final2:{number}     -> the second fine-tune seed of a close call
    claim:rung:{k}:{n}  -> unix time: a worker is on that item (0.0: released)
    best, sensitivity, anchors
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial

# -- trial user attributes --
KIND, RATIOS, CRITERION = "kind", "ratios", "criterion"
PARAMS, MACS, LATENCY, FEASIBLE = "params", "macs", "latency_ms", "feasible"
PROXY, TIMINGS, CONSTRAINTS = "proxy_score", "timings", "constraints"
SURPLUS = "surplus"  # a trial past the plan, failed before it ran (never a candidate)

# -- study user attributes --
RUNG_PREFIX = "rung:"
FINAL_PREFIX = "final:"
SECOND_PREFIX = "final2:"
CLAIM_PREFIX = "claim:"
BEST = "best"  # the chosen candidate's number, once the finals chose
SENSITIVITY, ANCHORS = "sensitivity", "anchors"  # written once per study

# Keys of a final's result.
ACCURACY, TEST_ACCURACY, MARGIN, MARGIN_SE = "accuracy", "test_accuracy", "margin", "margin_se"
CORRECT, SCORE, SECONDS = "correct", "score", "seconds"

Trial = FrozenTrial | optuna.Trial
Results = Mapping[str, Any]


# -- trial: read --


def kind(trial: Trial) -> str | None:
    """The candidate's kind (``uniform``, ``global``, ``sensitivity``, ``search``); None
    before the objective gave a sampled trial its kind."""
    value = trial.user_attrs.get(KIND)
    return None if value is None else str(value)


def is_surplus(trial: Trial) -> bool:
    return bool(trial.user_attrs.get(SURPLUS))


def is_feasible(trial: Trial) -> bool:
    return bool(trial.user_attrs.get(FEASIBLE, False))


def proxy_score(trial: Trial) -> float | None:
    value = trial.user_attrs.get(PROXY)
    return None if value is None else float(value)


def ratios(trial: Trial) -> dict[str, float]:
    return dict(trial.user_attrs.get(RATIOS, {}))


def criterion(trial: Trial) -> str | None:
    value = trial.user_attrs.get(CRITERION)
    return None if value is None else str(value)


def figures(trial: Trial) -> tuple[int | None, int | None, float | None]:
    """(params, MACs, latency in ms) as measured; None where not measured."""
    attrs = trial.user_attrs
    return attrs.get(PARAMS), attrs.get(MACS), attrs.get(LATENCY)


def timings(trial: Trial) -> dict[str, float]:
    return dict(trial.user_attrs.get(TIMINGS, {}))


# -- trial: write --


def write_kind(trial: optuna.Trial, value: str) -> None:
    trial.set_user_attr(KIND, value)


def mark_surplus(trial: optuna.Trial) -> None:
    trial.set_user_attr(SURPLUS, True)


def write_measured(
    trial: optuna.Trial,
    *,
    ratios: Mapping[str, float],
    criterion: str,
    params: int | None,
    macs: int | None,
    latency_ms: float | None,
    violations: Mapping[str, float],
) -> None:
    """The pruned policy and its measured figures; feasible only from measured figures."""
    trial.set_user_attr(RATIOS, dict(ratios))
    trial.set_user_attr(CRITERION, criterion)
    trial.set_user_attr(PARAMS, params)
    trial.set_user_attr(MACS, macs)
    trial.set_user_attr(LATENCY, latency_ms)
    trial.set_user_attr(FEASIBLE, all(v <= 0.0 for v in violations.values()))
    trial.set_user_attr(CONSTRAINTS, dict(violations))


def write_timings(trial: optuna.Trial, values: Mapping[str, float]) -> None:
    trial.set_user_attr(TIMINGS, dict(values))


def write_proxy(trial: optuna.Trial, score: float) -> None:
    trial.set_user_attr(PROXY, score)


def enqueued_attrs(kind: str) -> dict[str, Any]:
    """The user attributes of an enqueued trial (a baseline or a warm start)."""
    return {KIND: kind}


# -- study: rungs --


def rung_key(k: int, number: int) -> str:
    return f"{RUNG_PREFIX}{k}:{number}"


def rung_result(results: Results, k: int, number: int) -> dict[str, Any] | None:
    """``number``'s result at rung ``k`` (``{"score", "seconds"}``), None if it has none."""
    value = results.get(rung_key(k, number))
    return None if value is None else dict(value)


def rung_score(results: Results, k: int, number: int) -> float:
    """The score of a rung result known to exist."""
    return float(results[rung_key(k, number)][SCORE])


def write_rung(study: optuna.Study, k: int, number: int, score: float, seconds: float) -> None:
    study.set_user_attr(rung_key(k, number), {SCORE: score, SECONDS: seconds})


def last_rung(number: int, results: Results) -> tuple[int, dict[str, Any] | None]:
    """The highest rung ``number`` has a result for, and that result (0, None: none)."""
    k, found = 1, None
    while (result := results.get(rung_key(k, number))) is not None:
        k, found = k + 1, result
    return k - 1, found


def rung_seconds(results: Results) -> list[float]:
    """How long every rung item so far took."""
    return [
        float(value[SECONDS])
        for key, value in results.items()
        if key.startswith(RUNG_PREFIX) and isinstance(value, dict)
    ]


def claim_key(k: int, number: int) -> str:
    return f"{CLAIM_PREFIX}{rung_key(k, number)}"


def write_claim(study: optuna.Study, k: int, number: int, at: float) -> None:
    """Claim rung ``k`` of ``number`` at unix time ``at`` (0.0 releases it)."""
    study.set_user_attr(claim_key(k, number), at)


def claimed_at(results: Results, k: int, number: int) -> float | None:
    """When a worker last claimed (or refreshed its claim on) rung ``k`` of ``number``."""
    value = results.get(claim_key(k, number))
    return None if value is None else float(value)


# -- study: finals --


def final_key(number: int, *, second: bool = False) -> str:
    return f"{SECOND_PREFIX if second else FINAL_PREFIX}{number}"


def final_result(results: Results, number: int, *, second: bool = False) -> dict[str, Any] | None:
    value = results.get(final_key(number, second=second))
    return None if value is None else dict(value)


def has_final(results: Results, number: int, *, second: bool = False) -> bool:
    return final_key(number, second=second) in results


def final_accuracy(results: Results, number: int) -> float:
    """The first seed's validation accuracy of a final known to exist."""
    return float(results[final_key(number)][ACCURACY])


def write_final(
    study: optuna.Study, number: int, result: Mapping[str, Any], *, second: bool = False
) -> None:
    study.set_user_attr(final_key(number, second=second), dict(result))


def finals_done(results: Results) -> set[int]:
    """Numbers of the candidates with a final (either seed)."""
    return {
        int(key.rsplit(":", 1)[1])
        for key in results
        if key.startswith((FINAL_PREFIX, SECOND_PREFIX))
    }


def best_number(results: Results) -> int | None:
    value = results.get(BEST)
    return None if value is None else int(value)


def write_best(study: optuna.Study, number: int) -> None:
    study.set_user_attr(BEST, number)
