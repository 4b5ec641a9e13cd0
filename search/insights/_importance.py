"""``param_importances``: which sampled parameters explain the score, by Optuna's fANOVA."""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.importance import FanovaImportanceEvaluator, get_param_importances
from optuna.trial import FrozenTrial, TrialState

from search.exceptions import ImportanceUnavailable
from search.insights._history import first_value

__all__ = ["param_importances", "usable_trials"]

MIN_TRIALS = 2


def usable_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The trials an importance is computed from: complete, with a finite first value."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [trial for trial in complete if first_value(trial) is not None]


def param_importances(study: optuna.Study, *, seed: int = 0) -> dict[str, float]:
    """Each parameter's share of the score's variance (fANOVA over the complete trials),
    most important first; the shares sum to 1.

    Optuna's own :class:`~optuna.importance.FanovaImportanceEvaluator` with ``seed``, so
    repeated calls on the same trials agree. A multi-objective study is read on its first
    objective (the score). Parameters every trial shares (the search's keep ratio per
    group, the criterion when several are searched) are assessed; a parameter that never
    varied gets 0.

    Raises:
        ImportanceUnavailable: fewer than two usable trials, or nothing varied (every
            parameter, or every score, the same): there is no variance to attribute. Its
            ``trials_used`` says how many trials there were.
    """
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
    evaluator = FanovaImportanceEvaluator(seed=seed)
    try:
        importances = get_param_importances(
            study, evaluator=evaluator, target=_first_objective, normalize=True
        )
    except (RuntimeError, ValueError) as exc:  # fANOVA: zero variance, or dynamic spaces
        raise ImportanceUnavailable(
            f"parameter importance could not be computed: {exc}", trials_used=used
        ) from exc
    return {name: float(share) for name, share in importances.items()}


def _first_objective(trial: FrozenTrial) -> float:
    return float(trial.values[0])


def _varies(values: Sequence[object]) -> bool:
    return len({repr(value) for value in values}) > 1
