"""``param_importances``: which sampled parameters explain the score, by Optuna's PED-ANOVA,
the evaluator (and target) the embedded optuna-dashboard uses, so the two views agree."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import optuna
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from search.exceptions import ImportanceUnavailable
from search.insights._history import first_value

__all__ = [
    "IMPORTANCE_EVALUATOR",
    "MIN_RANKABLE_TRIALS",
    "param_importances",
    "ranking_warning",
    "usable_trials",
]

MIN_TRIALS = 2
IMPORTANCE_EVALUATOR = "PED-ANOVA"
# PED-ANOVA (default target_quantile 0.1) compares the parameters' distribution in the top
# ceil(10%) of trials with that of all trials. Up to 10 trials the top set is ONE trial, so
# the "ranking" only says where that trial sits; from 11 the top holds two or more.
_TARGET_QUANTILE = 0.1
_MIN_TOP_TRIALS = 2
MIN_RANKABLE_TRIALS = next(
    n for n in range(1, 1000) if math.ceil(_TARGET_QUANTILE * n) >= _MIN_TOP_TRIALS
)


def usable_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The trials an importance is computed from: complete, with a finite first value."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [trial for trial in complete if first_value(trial) is not None]


def param_importances(study: optuna.Study, *, seed: int = 0) -> dict[str, float]:
    """Each parameter's normalized importance for a good score, most important first; the
    shares sum to 1.

    The same computation as optuna-dashboard 0.21's importance chart (so the job page and
    the embedded dashboard agree): :class:`~optuna.importance.PedAnovaImportanceEvaluator`
    with its defaults over the complete trials with a finite first value, on the first
    objective (the score), negated when maximized (PED-ANOVA ranks for low targets).
    PED-ANOVA draws no random numbers: ``seed`` changes nothing and is kept for callers.
    Parameters every trial shares are assessed; a parameter that never varied gets 0.
    With fewer than :data:`MIN_RANKABLE_TRIALS` trials the ranking rests on a single top
    trial: see :func:`ranking_warning`.

    Raises:
        ImportanceUnavailable: fewer than two usable trials, or nothing varied (every
            parameter, or every score, the same): there is nothing to attribute. Its
            ``trials_used`` says how many trials there were.
    """
    del seed  # deterministic evaluator
    trials = usable_trials(study)
    used = len(trials)
    if used < MIN_TRIALS:
        raise ImportanceUnavailable(
            f"parameter importance needs at least {MIN_TRIALS} complete trials; "
            f"the study has {used}",
            trials_used=used,
        )
    if not _varies([first_value(trial) for trial in trials]):
        raise ImportanceUnavailable(
            f"all {used} complete trials scored the same: no variance to attribute",
            trials_used=used,
        )
    names = sorted({name for trial in trials for name in trial.params})
    if not any(_varies([trial.params.get(name) for trial in trials]) for name in names):
        raise ImportanceUnavailable(
            f"the parameters did not vary over the {used} complete trials: "
            "no variance to attribute",
            trials_used=used,
        )
    try:
        with warnings.catch_warnings():
            # PED-ANOVA warns whenever given a target and when the top set is every trial;
            # both are expected here (and the dashboard silences the first too).
            warnings.simplefilter("ignore")
            importances = get_param_importances(
                study,
                evaluator=PedAnovaImportanceEvaluator(),
                target=_score_target(study),
                normalize=True,
            )
    except (RuntimeError, ValueError) as exc:
        raise ImportanceUnavailable(
            f"parameter importance could not be computed: {exc}", trials_used=used
        ) from exc
    return {name: float(share) for name, share in importances.items()}


def ranking_warning(trials_used: int) -> str | None:
    """Why an importance of ``trials_used`` trials should not be read as a ranking, or
    None when there are enough."""
    if trials_used >= MIN_RANKABLE_TRIALS:
        return None
    return (
        f"only {trials_used} complete trials: {IMPORTANCE_EVALUATOR} compares the top 10% with all "
        f"trials, and below {MIN_RANKABLE_TRIALS} that top is a single trial, too few to rank "
        "the parameters"
    )


def _score_target(study: optuna.Study) -> Callable[[FrozenTrial], float]:
    # optuna-dashboard's target: the objective, negated when maximized.
    sign = -1.0 if study.directions[0] == StudyDirection.MAXIMIZE else 1.0
    return lambda trial: sign * float(trial.values[0])


def _varies(values: Sequence[object]) -> bool:
    return len({repr(value) for value in values}) > 1
