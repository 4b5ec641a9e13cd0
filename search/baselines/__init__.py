"""Baselines every leaderboard shows the search against."""

from search.baselines._baselines import (
    BASELINES,
    GLOBAL,
    SEARCH,
    SENSITIVITY,
    UNIFORM,
    global_ratios,
    uniform_ratios,
)

__all__ = [
    "BASELINES",
    "GLOBAL",
    "SEARCH",
    "SENSITIVITY",
    "UNIFORM",
    "global_ratios",
    "uniform_ratios",
]
