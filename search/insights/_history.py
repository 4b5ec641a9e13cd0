"""``optimization_history``: every trial's value and the best so far, in trial order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from search import _records as rec
from search._json import finite

__all__ = ["HistoryPoint", "objective_direction", "optimization_history"]

Direction = Literal["maximize", "minimize"]


@dataclass(frozen=True)
class HistoryPoint:
    """One trial: ``kind`` is ``uniform``, ``global``, ``sensitivity`` or ``search`` (the
    trial's user attr);
    ``state`` Optuna's state in lower case; ``value`` its (first) objective value, None
    unless it completed; ``best_so_far`` the best value of the trials up to and including
    this one (None before the first complete trial)."""

    number: int
    kind: str
    state: str
    value: float | None
    best_so_far: float | None


def objective_direction(study: optuna.Study) -> Direction:
    """The direction of the study's first objective, in lower case."""
    return "maximize" if study.directions[0] == StudyDirection.MAXIMIZE else "minimize"


def optimization_history(study: optuna.Study) -> list[HistoryPoint]:
    """Every trial of ``study`` in trial-number order, with the running best value.

    The best is the highest value for a maximised objective, the lowest for a minimised one.
    A multi-objective study (accuracy against a cost) is read on its first objective only,
    the score: its best so far is that of the score, whatever the trial's cost. Trials that
    failed, were pruned or are still running carry no value and keep the best unchanged;
    non-finite values are dropped the same way.
    """
    maximize = objective_direction(study) == "maximize"
    points: list[HistoryPoint] = []
    best: float | None = None
    for trial in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
        value = first_value(trial)
        if value is not None and (best is None or (value > best if maximize else value < best)):
            best = value
        points.append(
            HistoryPoint(
                number=trial.number,
                kind=rec.kind(trial) or "search",
                state=trial.state.name.lower(),
                value=value,
                best_so_far=best,
            )
        )
    return points


def first_value(trial: FrozenTrial) -> float | None:
    """The trial's first objective value if it completed with a finite one, else None."""
    if trial.state != TrialState.COMPLETE or not trial.values:
        return None
    return finite(float(trial.values[0]))
