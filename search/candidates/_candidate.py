"""``Candidate``: one evaluated policy, as the library, the database and JSON all see it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Protocol

import optuna
from optuna.trial import FrozenTrial

from search import _records as rec

# Fidelity: the last stage a candidate reached.
SCREEN, FINAL = "screen", "final"
# The fields a candidate's score is read from, first present wins: final accuracy, else
# its last rung's score, else the screening score. The SQL ranking is built from these.
SCORE_FIELDS = ("accuracy", "rung_score", "proxy_score")
# fidelity_level of the finals: above every rung.
FINAL_LEVEL = 1000
# The rungs the SQL ranking spells out (a spec allows at most this many).
MAX_RUNGS = 8


class Scored(Protocol):
    """Anything with a candidate's score fields: a Candidate, a database row, a schema."""

    @property
    def accuracy(self) -> float | None: ...
    @property
    def rung_score(self) -> float | None: ...
    @property
    def proxy_score(self) -> float | None: ...


class Ranked(Scored, Protocol):
    """Anything with the fields a candidate is ranked by."""

    @property
    def number(self) -> int: ...
    @property
    def feasible(self) -> bool: ...
    @property
    def state(self) -> str: ...
    @property
    def fidelity(self) -> str: ...


def rung_name(k: int) -> str:
    return f"rung-{k}"


# Every fidelity a candidate can carry, lowest first (the SQL ranking spells them out).
FIDELITIES: tuple[str, ...] = (SCREEN, *(rung_name(k) for k in range(1, MAX_RUNGS + 1)), FINAL)


def fidelity_level(fidelity: str) -> int:
    """0 for screening, k for rung k, above every rung for the finals (for ranking)."""
    if fidelity == FINAL:
        return FINAL_LEVEL
    if fidelity.startswith("rung-"):
        return int(fidelity.removeprefix("rung-"))
    return 0


def score(candidate: Scored | Mapping[str, Any]) -> float | None:
    """The score of its last stage: final accuracy, else its last rung's, else the
    screening score (the one rule; the SQL ``SCORE`` is built from ``SCORE_FIELDS``).
    ``candidate`` is a candidate, a row, a schema, or a mapping such as ``to_dict()``."""
    for name in SCORE_FIELDS:
        value: float | None = (
            candidate.get(name) if isinstance(candidate, Mapping) else getattr(candidate, name)
        )
        if value is not None:
            return value
    return None


def rank_key(c: Ranked) -> tuple[bool, bool, int, float, int]:
    """Feasible and complete first, then the furthest stage, then by score, then by age."""
    value = score(c)
    return (
        not c.feasible,
        c.state != "complete",
        -fidelity_level(c.fidelity),
        -(value if value is not None else -1.0),
        c.number,
    )


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
        """See :func:`score`."""
        return score(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Candidate:
        """The candidate of a :meth:`to_dict` (unknown keys ignored, missing ones default)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})


def from_trial(trial: FrozenTrial, results: Mapping[str, Any]) -> Candidate:
    """The candidate of ``trial``, with its later stages' ``results`` (the study's user
    attributes)."""
    final = rec.final_result(results, trial.number) or {}
    rung, rung_result = rec.last_rung(trial.number, results)
    fidelity = FINAL if final else (rung_name(rung) if rung else SCREEN)
    params, macs, latency_ms = rec.figures(trial)
    return Candidate(
        number=trial.number,
        kind=rec.kind(trial) or "search",
        state=trial.state.name.lower(),
        ratios=rec.ratios(trial),
        criterion=rec.criterion(trial),
        params=params,
        macs=macs,
        latency_ms=latency_ms,
        proxy_score=rec.proxy_score(trial),
        accuracy=final.get(rec.ACCURACY),
        test_accuracy=final.get(rec.TEST_ACCURACY),
        feasible=rec.is_feasible(trial),
        timings={**rec.timings(trial), **final.get(rec.TIMINGS, {})},
        fidelity=fidelity,
        rung_score=None if rung_result is None else rung_result[rec.SCORE],
        margin=final.get(rec.MARGIN),
        margin_se=final.get(rec.MARGIN_SE),
    )


def leaderboard(study: optuna.Study, *, cost: str = rec.MACS) -> list[Candidate]:
    """Every candidate of ``study``, best first, with Pareto flags (score against ``cost``)."""
    results = study.user_attrs
    candidates = [
        from_trial(t, results) for t in study.get_trials(deepcopy=False) if not rec.is_surplus(t)
    ]
    front = pareto_front(candidates, cost=cost)
    ranked = [replace(c, pareto=c.number in front) for c in candidates]
    return sorted(ranked, key=rank_key)


def pareto_front(candidates: Sequence[Candidate], *, cost: str = rec.MACS) -> set[int]:
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
