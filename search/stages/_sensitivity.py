"""Stage 1, sensitivity: how much each group alone loses at a few keep ratios.

Each group is pruned alone to each keep ratio of :data:`KEEPS`, BatchNorm is recalibrated
on the fixed calibration batches, and accuracy is read on the search split
(:func:`pruning.sensitivity`). The curves are stored on the study (every process of the job
reads the same ones), shown to users, and turned into the ``sensitivity`` baseline: one
degradation threshold for all groups, bisected to the budget (ModelOpt's FastNAS does the
same), so fragile groups keep more channels than robust ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np

from pruning import sensitivity
from search.budget import BudgetMeter, Limits, bisect_fraction
from search.preparation import Prepared
from search.stages._data import StageData

# Keep ratios probed per group (prune ratios 0.25, 0.5, 0.75).
KEEPS = (0.75, 0.5, 0.25)
_CRITERION_SAMPLES = 256

# A group's curve: (prune ratio, accuracy drop) points, starting at (0, 0).
Curve = list[tuple[float, float]]


def measure_curves(prepared: Prepared, data: StageData, *, criterion: str) -> dict[str, Any]:
    """Per-group accuracy drops at each of :data:`KEEPS`, JSON-ready for the study:
    ``{"reference_accuracy": a, "ratios": [...], "groups": {root: [drop, ...]}}``."""
    options = prepared.spec.search
    x, y = data.fit.tensors
    result = sensitivity(
        prepared.model,
        data.search,
        prepared.example_inputs,
        ratios=tuple(1.0 - keep for keep in KEEPS),
        criterion=criterion,
        report=prepared.report,
        calibration_data=data.fit,
        calibration_batches=options.calibration_batches,
        criterion_data=(x[:_CRITERION_SAMPLES], y[:_CRITERION_SAMPLES]),
        batch_size=prepared.spec.finetune.batch_size,
    )
    return {
        "reference_accuracy": result.reference_accuracy,
        "ratios": list(result.ratios),
        "groups": {
            g.root: [result.drop(g.root, r) for r in result.ratios] for g in prepared.report.groups
        },
    }


def curves_by_group(prepared: Prepared, stored: Mapping[str, Any]) -> dict[int, Curve]:
    """The stored drops as a monotone curve per group id (a drop never shrinks as more is
    pruned: noise on the search split must not make pruning more look cheaper), ending at
    ratio 1 with every bit of the reference's accuracy lost, so that thresholds past the
    last probe still order the groups."""
    ratios = [0.0, *(float(r) for r in stored["ratios"]), 1.0]
    everything = max(float(stored["reference_accuracy"]), 1e-6)
    curves = {}
    for group in prepared.report.groups:
        measured = [0.0, *(float(d) for d in stored["groups"][group.root])]
        drops = np.maximum.accumulate([*measured, max(everything, measured[-1])])
        curves[group.id] = list(zip(ratios, drops.tolist(), strict=True))
    return curves


def sensitivity_ratios(
    curves: Mapping[int, Curve],
    meter: BudgetMeter,
    limits: Limits,
    *,
    max_ratio: Mapping[int, float],
) -> dict[int, float]:
    """The smallest degradation threshold whose allocation meets the budget: each group is
    pruned as far as its curve stays under the threshold (linear between probed ratios)."""
    top = max((drop for curve in curves.values() for _, drop in curve), default=0.0)

    def at(fraction: float) -> dict[int, float]:
        # Past the largest measured drop every group goes to its floor (the bisection's end).
        if fraction >= 1.0:
            return dict(max_ratio)
        threshold = fraction * top
        return {g: min(max_ratio[g], _ratio_at(curve, threshold)) for g, curve in curves.items()}

    return bisect_fraction(meter, limits, at)


def _ratio_at(curve: Curve, threshold: float) -> float:
    """The largest prune ratio whose (interpolated) drop is at most ``threshold``."""
    best = 0.0
    for (r0, d0), (r1, d1) in itertools.pairwise(curve):
        if d1 <= threshold:
            best = r1
            continue
        if d0 <= threshold < d1:
            best = r0 + (r1 - r0) * (threshold - d0) / (d1 - d0)
        break
    return best
