"""Pruning criteria: how channels (or weights) are ranked before the least important go."""

from __future__ import annotations

from typing import Final

import torch_pruning as tp

CRITERIA: Final = ("l1", "l2", "bn_scale", "taylor", "fpgm", "lamp", "random")
GRANULARITIES: Final = ("channel", "unstructured")
# Criteria defined on single weights, for unstructured pruning.
UNSTRUCTURED_CRITERIA: Final = ("l1", "l2", "taylor", "lamp", "random")


def channel_importance(criterion: str) -> tp.importance.Importance:
    """Torch-Pruning's group importance for ``criterion`` (validated by :class:`Policy`)."""
    if criterion == "l1":
        return tp.importance.GroupMagnitudeImportance(p=1)
    if criterion == "l2":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if criterion == "bn_scale":
        return tp.importance.BNScaleImportance()
    if criterion == "taylor":
        return tp.importance.GroupTaylorImportance()
    if criterion == "fpgm":
        return tp.importance.FPGMImportance()
    if criterion == "lamp":
        return tp.importance.LAMPImportance()
    return tp.importance.RandomImportance()
