"""Measure a model: parameters, MACs, sparsity and latency.

:func:`measure` is the one place where the project's figures come from: the search's
budgets, the leaderboard and the benchmarks all read a :class:`Measurement`, and every
MAC figure comes from :func:`count_macs` (one counter, used everywhere).
"""

from __future__ import annotations

from pruning.measure._macs import count_macs
from pruning.measure._measure import Measurement, measure

__all__ = ["Measurement", "count_macs", "measure"]
