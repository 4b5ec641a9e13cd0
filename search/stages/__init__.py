"""The search's stages, in order: sensitivity, screening, successive halving, finals.

Each stage's results live in the study (trial attributes for screening, study attributes
for the others), so any process can run any stage's next item and a killed one resumes.
"""

from search.stages._data import StageData, stage_data
from search.stages._finals import BEST, Finalizer, choose, rank_correlation
from search.stages._halving import ETA, Halving
from search.stages._screening import Objective, Surplus, check_stop
from search.stages._sensitivity import curves_by_group, measure_curves, sensitivity_ratios

__all__ = [
    "BEST",
    "ETA",
    "Finalizer",
    "Halving",
    "Objective",
    "StageData",
    "Surplus",
    "check_stop",
    "choose",
    "curves_by_group",
    "measure_curves",
    "rank_correlation",
    "sensitivity_ratios",
    "stage_data",
]
