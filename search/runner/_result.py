"""``SearchResult``: the leaderboard, the best candidate and its model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from pruning import Policy, save_bundle
from search.baselines import GLOBAL, UNIFORM
from search.budget import Limits
from search.candidates import Candidate
from search.preparation import Reference


@dataclass(frozen=True)
class SearchResult:
    """What a search produced. ``leaderboard`` holds every candidate, baselines included,
    best first; ``best`` is the best feasible candidate after the final fine-tune."""

    study_name: str
    leaderboard: list[Candidate]
    best: Candidate | None
    reference: Reference
    limits: Limits
    rank_correlation: float | None
    best_policy: Policy | None = None
    best_model: nn.Module | None = field(default=None, repr=False, compare=False)
    source: dict[str, Any] = field(default_factory=dict)

    def baseline(self, kind: str) -> Candidate | None:
        return next(
            (c for c in self.leaderboard if c.kind == kind and c.accuracy is not None), None
        )

    def gain_over(self, kind: str = UNIFORM) -> float | None:
        """Best validation accuracy minus the ``kind`` baseline's, after the same fine-tune."""
        base = self.baseline(kind)
        if self.best is None or base is None or self.best.accuracy is None or base.accuracy is None:
            return None
        return self.best.accuracy - base.accuracy

    def save_best(self, path: str | os.PathLike[str], *, onnx: bool | None = None) -> Path:
        """Write the best model as a bundle (see :func:`pruning.save_bundle`)."""
        if self.best is None or self.best_model is None or self.best_policy is None:
            raise ValueError("the search found no feasible candidate to save")
        metrics = {
            "val_accuracy": self.best.accuracy,
            "test_accuracy": self.best.test_accuracy,
            "reference": self.reference.to_dict(),
            "gain_over_uniform": self.gain_over(UNIFORM),
            "gain_over_global": self.gain_over(GLOBAL),
        }
        return save_bundle(
            self.best_model, self.best_policy, path, source=self.source, metrics=metrics, onnx=onnx
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "study_name": self.study_name,
            "best": None if self.best is None else self.best.to_dict(),
            "reference": self.reference.to_dict(),
            "limits": self.limits.to_dict(),
            "rank_correlation": self.rank_correlation,
            "gain_over_uniform": self.gain_over(UNIFORM),
            "gain_over_global": self.gain_over(GLOBAL),
            "leaderboard": [c.to_dict() for c in self.leaderboard],
        }
