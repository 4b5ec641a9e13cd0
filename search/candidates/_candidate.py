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
FINAL_PREFIX = "final:"


@dataclass(frozen=True)
class Candidate:
    """A policy evaluated by the search. ``accuracy`` is validation accuracy after the final
    fine-tune (None until it had one); ``test_accuracy`` is filled for the best and the
    baselines only, so test data never chooses anything."""

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

    @property
    def score(self) -> float | None:
        """Final accuracy where there is one, else the proxy score."""
        return self.accuracy if self.accuracy is not None else self.proxy_score

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_trial(trial: FrozenTrial, finals: Mapping[str, Any]) -> Candidate:
    attrs = trial.user_attrs
    final = finals.get(f"{FINAL_PREFIX}{trial.number}", {})
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
    )


def leaderboard(study: optuna.Study, *, cost: str = MACS) -> list[Candidate]:
    """Every candidate of ``study``, best first, with Pareto flags (score against ``cost``)."""
    finals = study.user_attrs
    candidates = [from_trial(t, finals) for t in study.get_trials(deepcopy=False)]
    front = pareto_front(candidates, cost=cost)
    ranked = [replace(c, pareto=c.number in front) for c in candidates]
    return sorted(ranked, key=_rank)


def pareto_front(candidates: Sequence[Candidate], *, cost: str = MACS) -> set[int]:
    """Numbers of feasible candidates no other beats on both proxy score (higher) and
    ``cost`` (lower). The proxy score is the one every complete candidate has, so the front
    compares like with like (final accuracy exists for the finalists only)."""
    points = [
        (c.number, c.proxy_score, getattr(c, cost))
        for c in candidates
        if c.feasible
        and c.state == "complete"
        and c.proxy_score is not None
        and getattr(c, cost) is not None
    ]
    return {
        n
        for n, s, k in points
        if not any((s2 >= s and k2 <= k) and (s2 > s or k2 < k) for _, s2, k2 in points)
    }


def _rank(c: Candidate) -> tuple[bool, bool, bool, float, int]:
    # Feasible and complete first, finalised before proxy-only, then by score, then by age.
    score = c.score if c.score is not None else -1.0
    return (not c.feasible, c.state != "complete", c.accuracy is None, -score, c.number)
