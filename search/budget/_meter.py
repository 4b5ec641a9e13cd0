"""``BudgetMeter``: the cost of a policy, measured on the pruned architecture and cached.

Params and MACs are counted on the unpruned model shrunk to the policy's channel counts
(which channels go does not change a cost), cached by channel signature. Latency cannot be
counted: it is measured for a few signatures and predicted for the rest by a line fitted
on every measurement so far (latency against MACs), which the projection uses. A
candidate's final latency is always measured.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from pruning import count_macs, kept_channels, measure, shrink
from search.budget._limits import Figures
from search.preparation import Prepared

Signature = tuple[int, ...]


@dataclass
class BudgetMeter:
    """Costs of per-group prune ratios for one prepared model."""

    prepared: Prepared
    round_to: int
    unstructured: bool = False
    _counts: dict[Signature, tuple[int, int]] = field(default_factory=dict)
    _latency: dict[Signature, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The unpruned model is the first point of every cache (and of the latency line).
        reference = self.prepared.reference
        key = self.signature({})
        self._counts[key] = (reference.params, reference.macs)
        if reference.latency_ms is not None:
            self._latency[key] = reference.latency_ms

    def signature(self, ratios: Mapping[int, float]) -> Signature:
        """Channels kept per group (for unstructured pruning: per-mille kept per group)."""
        groups = self.prepared.report.groups
        if self.unstructured:
            return tuple(round(1000 * (1.0 - ratios.get(g.id, 0.0))) for g in groups)
        return tuple(
            kept_channels(g.channels, ratios.get(g.id, 0.0), self.round_to) for g in groups
        )

    def counts(self, ratios: Mapping[int, float]) -> Figures:
        """Params and MACs (no latency) of the policy; cached by signature."""
        key = self.signature(ratios)
        if key not in self._counts:
            self._counts[key] = self._count(key, ratios)
        params, macs = self._counts[key]
        return Figures(params=params, macs=macs)

    def predicted(self, ratios: Mapping[int, float]) -> Figures:
        """Counts plus latency: measured if this signature was, else from the fitted line."""
        figures = self.counts(ratios)
        key = self.signature(ratios)
        latency = self._latency.get(key)
        if latency is None:
            latency = self._fit(figures.macs)
        return Figures(figures.params, figures.macs, latency)

    def measured(self, model: nn.Module, ratios: Mapping[int, float]) -> Figures:
        """Measure ``model`` (a candidate as pruned): counts, and latency as the spec says."""
        spec = self.prepared.spec.budget.latency
        figures = measure(
            model,
            self.prepared.example_inputs,
            latency=self._wants_latency,
            device=spec.device,
            batch_size=spec.batch_size,
            threads=spec.threads,
            min_run_time=0.2,
        )
        params = figures.nonzero_params if self.unstructured else figures.params
        key = self.signature(ratios)
        self._counts.setdefault(key, (params, figures.macs))
        if figures.latency_ms is not None:
            self._latency[key] = figures.latency_ms
        return Figures(params, figures.macs, figures.latency_ms)

    def measure_signature(self, ratios: Mapping[int, float]) -> Figures:
        """Build the shrunk model for ``ratios`` and measure it (pre-flight extremes)."""
        return self.measured(self._shrunk(self.signature(ratios)), ratios)

    @property
    def _wants_latency(self) -> bool:
        spec = self.prepared.spec
        return spec.budget.max_latency_ms is not None or "latency" in spec.search.objectives

    def _count(self, key: Signature, ratios: Mapping[int, float]) -> tuple[int, int]:
        reference = self.prepared.reference
        if self.unstructured:
            return reference.params - self._zeroed(ratios), reference.macs
        model = self._shrunk(key)
        params = sum(p.numel() for p in model.parameters())
        return params, count_macs(model, self.prepared.example_inputs)

    def _zeroed(self, ratios: Mapping[int, float]) -> int:
        modules = dict(self.prepared.model.named_modules())
        total = 0
        for group in self.prepared.report.groups:
            ratio = ratios.get(group.id, 0.0)
            total += sum(round(ratio * modules[n].get_parameter("weight").numel()) for n in group)
        return total

    def _shrunk(self, key: Signature) -> nn.Module:
        model = copy.deepcopy(self.prepared.model)
        if self.unstructured:
            return model
        kept = {g.root: k for g, k in zip(self.prepared.report.groups, key, strict=True)}
        with torch.no_grad():
            shrink(model, (self.prepared.example_inputs,), kept)
        return model

    def _fit(self, macs: int) -> float:
        if not self._latency:
            return float("nan")
        points = [(self._counts[k][1], v) for k, v in self._latency.items() if k in self._counts]
        if len(points) < 2:
            return float(np.mean(list(self._latency.values())))
        x, y = np.array(points, dtype=float).T
        slope, intercept = np.polyfit(x, y, 1)
        return float(max(intercept + slope * macs, 1e-6))
