"""``SearchResult``: the leaderboard, the best candidate and its model."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from pruning import Policy, save_bundle
from search.baselines import GLOBAL, SENSITIVITY, UNIFORM
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
    sensitivity: dict[str, Any] | None = None

    def baseline(self, kind: str) -> Candidate | None:
        return next(
            (c for c in self.leaderboard if c.kind == kind and c.accuracy is not None), None
        )

    def gain_over(self, kind: str = UNIFORM, *, split: str = "val") -> float | None:
        """Best accuracy minus the ``kind`` baseline's after the same fine-tune, on
        validation (``split="val"``) or test data (``"test"``)."""
        base = self.baseline(kind)
        if self.best is None or base is None:
            return None
        field_ = "accuracy" if split == "val" else "test_accuracy"
        mine, theirs = getattr(self.best, field_), getattr(base, field_)
        if mine is None or theirs is None:
            return None
        return float(mine - theirs)

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
            "gain_over_sensitivity": self.gain_over(SENSITIVITY),
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
            "gain_over_sensitivity": self.gain_over(SENSITIVITY),
            "test_gain_over_uniform": self.gain_over(UNIFORM, split="test"),
            "test_gain_over_global": self.gain_over(GLOBAL, split="test"),
            "test_gain_over_sensitivity": self.gain_over(SENSITIVITY, split="test"),
            "sensitivity": self.sensitivity,
            "leaderboard": [c.to_dict() for c in self.leaderboard],
        }
