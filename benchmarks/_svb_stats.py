"""Paired statistics over seeds for search_vs_baselines: recovered fraction, bootstrap
confidence intervals, wins, rank correlation. Pure functions over plain lists."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

BOOTSTRAP_RESAMPLES = 10_000
Stat = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Estimate:
    """A statistic over seeds and its bootstrap 95% interval (None with fewer than 2 seeds
    or when the statistic is undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0

    def text(self, scale: float = 1.0, digits: int = 2) -> str:
        if self.value is None:
            return "n/a"
        main = f"{self.value * scale:.{digits}f}"
        if self.low is None or self.high is None:
            return f"{main} (no CI, n={self.n})"
        return f"{main} [{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]"


def bootstrap(rows: np.ndarray, stat: Stat, *, seed: int = 0) -> Estimate:
    """``stat`` of ``rows`` (one row per seed) and its percentile 95% interval from
    resampling the seeds with replacement; resamples where ``stat`` is undefined (nan) are
    dropped."""
    n = len(rows)
    value = stat(rows) if n else float("nan")
    if not np.isfinite(value):
        return Estimate(None, n=n)
    if n < 2:
        return Estimate(float(value), n=n)
    rng = np.random.default_rng(seed)
    draws = np.array([stat(rows[rng.integers(0, n, n)]) for _ in range(BOOTSTRAP_RESAMPLES)])
    draws = draws[np.isfinite(draws)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return Estimate(float(value), float(low), float(high), n)


def _recovered(rows: np.ndarray) -> float:
    """Columns (arm, uniform, unpruned): mean gain over uniform / mean unpruned-uniform gap."""
    gap = float(np.mean(rows[:, 2] - rows[:, 1]))
    return float(np.mean(rows[:, 0] - rows[:, 1]) / gap) if gap > 0 else float("nan")


def recovered(
    arm: Sequence[float], uniform: Sequence[float], unpruned: Sequence[float]
) -> Estimate:
    """The share of the unpruned-uniform gap the arm recovers (ratio of the means over
    seeds, paired), with a bootstrap 95% CI over seeds."""
    return bootstrap(np.column_stack([arm, uniform, unpruned]), _recovered)


def paired_difference(arm: Sequence[float], other: Sequence[float]) -> Estimate:
    """Mean of ``arm - other`` over seeds, with a bootstrap 95% CI."""
    diffs = np.asarray(arm, dtype=float) - np.asarray(other, dtype=float)
    return bootstrap(diffs.reshape(-1, 1), lambda r: float(np.mean(r)))


def wins(arm: Sequence[float], other: Sequence[float]) -> str:
    """``wins/n`` (strictly higher), with ties named when there are any."""
    pairs = list(zip(arm, other, strict=True))
    won = sum(a > b for a, b in pairs)
    tied = sum(a == b for a, b in pairs)
    return f"{won}/{len(pairs)}" + (f" ({tied} tied)" if tied else "")


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho; None with fewer than 3 points or a constant side."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return float(spearmanr(x, y).statistic)


def mean_sd(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """``mean ± sd`` (sd over seeds; none shown for a single value)."""
    if not values:
        return "n/a"
    mean = statistics.mean(values) * scale
    if len(values) < 2:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"
