"""Budgets: absolute limits, measured costs, projection onto the budget, pre-flight check."""

from search.budget._limits import Figures, Limits
from search.budget._meter import BudgetMeter
from search.budget._preflight import check_reachable
from search.budget._projection import bisect_fraction, project

__all__ = ["BudgetMeter", "Figures", "Limits", "bisect_fraction", "check_reachable", "project"]
