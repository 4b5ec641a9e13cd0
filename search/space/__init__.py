"""The search space: perturbations of the baselines' allocations within channel floors."""

from search.space._space import (
    ANCHOR,
    SPREAD,
    WARM_STARTS_PER_ANCHOR,
    Anchors,
    anchor_params,
    layer_ratios,
    max_ratios,
    param_name,
    perturbed,
    sample,
    warm_starts,
)

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
