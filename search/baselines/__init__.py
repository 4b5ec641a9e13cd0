"""Baselines every leaderboard shows the search against."""

from search.baselines._baselines import GLOBAL, SEARCH, UNIFORM, global_ratios, uniform_ratios

__all__ = ["GLOBAL", "SEARCH", "UNIFORM", "global_ratios", "uniform_ratios"]
