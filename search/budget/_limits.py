"""Budget limits in absolute units, and how far a candidate's figures are from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from search.spec import BudgetSpec


@dataclass(frozen=True)
class Figures:
    """A candidate's measured (or, for latency during projection, predicted) cost."""

    params: int
    macs: int
    latency_ms: float | None = None


@dataclass(frozen=True)
class Limits:
    """Absolute limits: ``None`` where the spec sets none."""

    max_params: float | None
    max_macs: float | None
    max_latency_ms: float | None

    @classmethod
    def from_spec(cls, budget: BudgetSpec, *, params: int, macs: int) -> Limits:
        """Fractions in (0, 1] are of the unpruned model's figure; larger numbers absolute."""
        return cls(
            max_params=_absolute(budget.max_params, params),
            max_macs=_absolute(budget.max_macs, macs),
            max_latency_ms=budget.max_latency_ms,
        )

    @property
    def uses_latency(self) -> bool:
        return self.max_latency_ms is not None

    def violations(self, figures: Figures) -> dict[str, float]:
        """Relative excess per limit: ``figure / limit - 1``; all <= 0 means feasible."""
        out: dict[str, float] = {}
        if self.max_params is not None:
            out["max_params"] = figures.params / self.max_params - 1.0
        if self.max_macs is not None:
            out["max_macs"] = figures.macs / self.max_macs - 1.0
        if self.max_latency_ms is not None:
            latency = figures.latency_ms if figures.latency_ms is not None else float("inf")
            out["max_latency_ms"] = latency / self.max_latency_ms - 1.0
        return out

    def feasible(self, figures: Figures) -> bool:
        return all(v <= 0.0 for v in self.violations(figures).values())

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _absolute(limit: float | None, reference: int) -> float | None:
    if limit is None:
        return None
    return limit * reference if limit <= 1.0 else float(limit)
