"""What a finished or running study says: its optimisation history and which parameters
mattered (Optuna's PED-ANOVA evaluator, as optuna-dashboard uses it).

>>> from search.insights import optimization_history, param_importances
>>> optimization_history(study)[-1].best_so_far
>>> param_importances(study)                  # {"keep:features.0": 0.61, ...}
>>> ranking_warning(6)                        # "only 6 complete trials: ..."
>>> stored_sensitivity(study)                 # {"reference_accuracy": .., "groups": ..}
"""

from search.insights._history import HistoryPoint, objective_direction, optimization_history
from search.insights._importance import (
    IMPORTANCE_EVALUATOR,
    MIN_RANKABLE_TRIALS,
    param_importances,
    ranking_warning,
    usable_trials,
)
from search.insights._sensitivity import stored_sensitivity

__all__ = [
    "IMPORTANCE_EVALUATOR",
    "MIN_RANKABLE_TRIALS",
    "HistoryPoint",
    "objective_direction",
    "optimization_history",
    "param_importances",
    "ranking_warning",
    "stored_sensitivity",
    "usable_trials",
]
