"""The search space: perturbations of good allocations, within per-group channel floors.

Independent keep ratios per group, each drawn from U(min_keep, 1), put a bottleneck layer in
most candidates, and the projection onto the budget then pulls every group further down. So
a candidate is drawn *around* an allocation already at the budget (an ``anchor``: the
uniform, global or sensitivity baseline), in log-keep space::

    keep[g] = anchor_keep[g] * exp(spread * z[g]),   z[g] in [-1, 1],  spread in [0, 1]

and then projected onto the budget again. The sampler learns which anchor, how far from it
(``spread``) and in which direction per group (``z``). An anchor with ``spread`` 0 is the
baseline itself, which is how the baselines are enqueued as ordinary trials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import optuna

from pruning import AnalysisReport
from search.spec import SearchOptions

__all__ = [
    "ANCHOR",
    "SPREAD",
    "WARM_STARTS_PER_ANCHOR",
    "Anchors",
    "anchor_params",
    "layer_ratios",
    "max_ratios",
    "param_name",
    "perturbed",
    "sample",
    "warm_starts",
]

ANCHOR, SPREAD = "anchor", "spread"
_Z = "z:"
MAX_SPREAD = 1.0
# Seeded perturbations of each anchor enqueued after the baselines.
WARM_STARTS_PER_ANCHOR = 2

# Per-group allocations by anchor name: prune ratio per group id.
Anchors = Mapping[str, Mapping[int, float]]


def param_name(group_root: str) -> str:
    """The trial parameter of one group's direction ``z``."""
    return f"{_Z}{group_root}"


def max_ratios(report: AnalysisReport, options: SearchOptions) -> dict[int, float]:
    """Each group's largest prune ratio: it keeps ``max(min_channels, min_keep * channels)``
    channels (all of them when it has fewer than ``min_channels``). Unstructured pruning
    removes no channel: every group may lose ``1 - min_keep`` of its weights."""
    if options.granularity == "unstructured":
        return {g.id: 1.0 - options.min_keep for g in report.groups}
    floors = {}
    for group in report.groups:
        floor = max(options.min_channels, math.ceil(options.min_keep * group.channels))
        floors[group.id] = 1.0 - min(group.channels, floor) / group.channels
    return floors


def sample(
    trial: optuna.Trial, report: AnalysisReport, options: SearchOptions, anchors: Anchors
) -> tuple[dict[int, float], str]:
    """Per-group prune ratios (before projection) and the criterion, drawn from ``trial``."""
    anchor = str(trial.suggest_categorical(ANCHOR, sorted(anchors)))
    spread = trial.suggest_float(SPREAD, 0.0, MAX_SPREAD)
    z = {g.id: trial.suggest_float(param_name(g.root), -1.0, 1.0) for g in report.groups}
    ratios = perturbed(anchors[anchor], z, spread, max_ratios(report, options))
    criteria = options.criteria
    criterion = (
        criteria[0] if len(criteria) == 1 else trial.suggest_categorical("criterion", criteria)
    )
    return ratios, str(criterion)


def perturbed(
    anchor: Mapping[int, float],
    z: Mapping[int, float],
    spread: float,
    max_ratio: Mapping[int, float],
) -> dict[int, float]:
    """``anchor`` moved by ``exp(spread * z)`` in keep, clipped to each group's floor."""
    ratios = {}
    for group, top in max_ratio.items():
        keep = (1.0 - anchor.get(group, 0.0)) * math.exp(spread * z.get(group, 0.0))
        ratios[group] = min(top, max(0.0, 1.0 - keep))
    return ratios


def anchor_params(
    anchor: str,
    report: AnalysisReport,
    options: SearchOptions,
    *,
    spread: float = 0.0,
    z: Mapping[int, float] | None = None,
) -> dict[str, object]:
    """The trial parameters that :func:`sample` turns into ``anchor`` moved by ``spread`` and
    ``z`` (for enqueueing baselines and warm starts)."""
    params: dict[str, object] = {ANCHOR: anchor, SPREAD: spread}
    for group in report.groups:
        params[param_name(group.root)] = 0.0 if z is None else z.get(group.id, 0.0)
    if len(options.criteria) > 1:
        params["criterion"] = options.criteria[0]
    return params


def warm_starts(
    anchors: Anchors,
    report: AnalysisReport,
    options: SearchOptions,
    *,
    per_anchor: int = WARM_STARTS_PER_ANCHOR,
) -> list[dict[str, object]]:
    """``per_anchor`` seeded perturbations of each anchor with a small spread: points near
    the baselines, so the sampler's first model of the space has their neighbourhood."""
    rng = np.random.default_rng(options.seed)
    starts = []
    # Round by round over the anchors, so that a plan too short for all keeps a mix.
    for _ in range(per_anchor):
        for name in sorted(anchors):
            z = {g.id: float(rng.uniform(-1.0, 1.0)) for g in report.groups}
            spread = float(rng.uniform(0.1, 0.4))
            starts.append(anchor_params(name, report, options, spread=spread, z=z))
    return starts


def layer_ratios(ratios: Mapping[int, float], report: AnalysisReport) -> dict[str, float]:
    """Per-group ratios spelled per layer, the form a :class:`pruning.Policy` takes."""
    return {name: ratios[g.id] for g in report.groups for name in g.layers if ratios.get(g.id)}
