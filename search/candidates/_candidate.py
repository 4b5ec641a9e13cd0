"""``Candidate``: one evaluated policy, as the library, the database and JSON all see it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import optuna
from optuna.trial import FrozenTrial

# Trial user attributes the objective writes (one spelling, used by reader and writer).
KIND, RATIOS, CRITERION = "kind", "ratios", "criterion"
PARAMS, MACS, LATENCY, FEASIBLE = "params", "macs", "latency_ms", "feasible"
PROXY, TIMINGS, CONSTRAINTS = "proxy_score", "timings", "constraints"
SURPLUS = "surplus"  # a trial past the plan, failed before it ran (never a candidate)
# Study user attributes: per-candidate results of the later stages, keyed by trial number.
RUNG_PREFIX = "rung:"  # f"rung:{k}:{number}" -> {"score", "seconds"}
FINAL_PREFIX = "final:"  # f"final:{number}" -> {"accuracy", "test_accuracy", "margin", ...}
SECOND_PREFIX = "final2:"  # the second fine-tune seed of a close call
CLAIM_PREFIX = "claim:"  # f"claim:{item}" -> {"at": unix time}: a worker is on that item

# Fidelity: the last stage a candidate reached.
SCREEN, FINAL = "screen", "final"


def rung_name(k: int) -> str:
    return f"rung-{k}"


def fidelity_level(fidelity: str) -> int:
    """0 for screening, k for rung k, above every rung for the finals (for ranking)."""
    if fidelity == FINAL:
        return 1000
    if fidelity.startswith("rung-"):
        return int(fidelity.removeprefix("rung-"))
    return 0


@dataclass(frozen=True)
class Candidate:
    """A policy evaluated by the search.

    ``fidelity`` is the last stage it reached (``screen``, ``rung-1`` ... ``rung-k``,
    ``final``). ``proxy_score`` is its screening score and ``rung_score`` its score after
    its last rung (both accuracy on the search split, carved from the training data);
    ``accuracy`` is validation accuracy after the final fine-tune (None until it had one);
    ``test_accuracy`` is filled for the best and the baselines only, so test data never
    chooses anything. ``margin`` and ``margin_se`` are a finalist's paired advantage over
    the best baseline on the same validation images, and its standard error.
    """

    number: int
    kind: str
    state: str
    ratios: dict[str, float] = field(default_factory=dict)
    criterion: str | None = None
    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    proxy_score: float | None = None
    accuracy: float | None = None
    test_accuracy: float | None = None
    feasible: bool = False
    pareto: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    fidelity: str = SCREEN
    rung_score: float | None = None
    margin: float | None = None
    margin_se: float | None = None

    @property
    def score(self) -> float | None:
        """The score of its last stage: final accuracy, else its last rung's, else the
        screening score."""
        for value in (self.accuracy, self.rung_score, self.proxy_score):
            if value is not None:
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def last_rung(number: int, results: Mapping[str, Any]) -> tuple[int, dict[str, Any] | None]:
    """The highest rung ``number`` has a result for, and that result (0, None: none)."""
    k, found = 1, None
    while (result := results.get(f"{RUNG_PREFIX}{k}:{number}")) is not None:
        k, found = k + 1, result
    return k - 1, found


def from_trial(trial: FrozenTrial, results: Mapping[str, Any]) -> Candidate:
    """The candidate of ``trial``, with its later stages' ``results`` (the study's user
    attributes)."""
    attrs = trial.user_attrs
    final = results.get(f"{FINAL_PREFIX}{trial.number}", {})
    rung, rung_result = last_rung(trial.number, results)
    fidelity = FINAL if final else (rung_name(rung) if rung else SCREEN)
    return Candidate(
        number=trial.number,
        kind=str(attrs.get(KIND, "search")),
        state=trial.state.name.lower(),
        ratios=dict(attrs.get(RATIOS, {})),
        criterion=attrs.get(CRITERION),
        params=attrs.get(PARAMS),
        macs=attrs.get(MACS),
        latency_ms=attrs.get(LATENCY),
        proxy_score=attrs.get(PROXY),
        accuracy=final.get("accuracy"),
        test_accuracy=final.get("test_accuracy"),
        feasible=bool(attrs.get(FEASIBLE, False)),
        timings={**attrs.get(TIMINGS, {}), **final.get("timings", {})},
        fidelity=fidelity,
        rung_score=None if rung_result is None else rung_result["score"],
        margin=final.get("margin"),
        margin_se=final.get("margin_se"),
    )


def leaderboard(study: optuna.Study, *, cost: str = MACS) -> list[Candidate]:
    """Every candidate of ``study``, best first, with Pareto flags (score against ``cost``)."""
    results = study.user_attrs
    candidates = [
        from_trial(t, results)
        for t in study.get_trials(deepcopy=False)
        if not t.user_attrs.get(SURPLUS)
    ]
    front = pareto_front(candidates, cost=cost)
    ranked = [replace(c, pareto=c.number in front) for c in candidates]
    return sorted(ranked, key=rank_key)


def pareto_front(candidates: Sequence[Candidate], *, cost: str = MACS) -> set[int]:
    """Numbers of feasible candidates no other beats on both score (higher) and ``cost``
    (lower), among those of the highest fidelity reached: scores of different stages are
    measured differently (search split or validation, after different fine-tunes), so the
    front compares like with like — the finalists once there are finals."""
    usable = [
        c
        for c in candidates
        if c.feasible
        and c.state == "complete"
        and c.score is not None
        and getattr(c, cost) is not None
    ]
    top = max((fidelity_level(c.fidelity) for c in usable), default=0)
    points = [
        (c.number, float(c.score or 0.0), float(getattr(c, cost)))
        for c in usable
        if fidelity_level(c.fidelity) == top
    ]
    return {
        n
        for n, s, k in points
        if not any((s2 >= s and k2 <= k) and (s2 > s or k2 < k) for _, s2, k2 in points)
    }


def rank_key(c: Candidate) -> tuple[bool, bool, int, float, int]:
    """Feasible and complete first, then the furthest stage, then by score, then by age."""
    score = c.score if c.score is not None else -1.0
    return (not c.feasible, c.state != "complete", -fidelity_level(c.fidelity), -score, c.number)
