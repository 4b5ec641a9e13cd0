"""Pruning policies: per-layer ratios keyed by module name, criteria and granularity."""

from pruning.policy._criteria import (
    CRITERIA,
    GRANULARITIES,
    UNSTRUCTURED_CRITERIA,
    channel_importance,
)
from pruning.policy._policy import Policy, kept_channels

__all__ = [
    "CRITERIA",
    "GRANULARITIES",
    "UNSTRUCTURED_CRITERIA",
    "Policy",
    "channel_importance",
    "kept_channels",
]
