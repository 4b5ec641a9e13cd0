"""What a finished or running study says: its optimisation history and which parameters
mattered (Optuna's own fANOVA evaluator).

>>> from search.insights import optimization_history, param_importances
>>> optimization_history(study)[-1].best_so_far
>>> param_importances(study, seed=0)          # {"z:features.0": 0.61, "spread": 0.2, ...}
>>> stored_sensitivity(study)                  # {"reference_accuracy": .., "groups": ..}
"""

from search.insights._history import HistoryPoint, objective_direction, optimization_history
from search.insights._importance import param_importances, usable_trials
from search.insights._sensitivity import stored_sensitivity

__all__ = [
    "HistoryPoint",
    "objective_direction",
    "optimization_history",
    "param_importances",
    "stored_sensitivity",
    "usable_trials",
]
