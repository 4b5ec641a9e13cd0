"""Unstructured (weight) pruning with ``torch.nn.utils.prune``, made permanent."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

from pruning.policy import Policy


def prune_weights(model: nn.Module, policy: Policy) -> None:
    """Zero ``ratios[name]`` of each named layer's weights in place; no masks remain.

    l1, l2 and lamp rank single weights by magnitude (equivalent within one layer), taylor by
    ``|w * dL/dw|`` (gradients must already be on the weights), random at random.
    """
    modules = dict(model.named_modules())
    for name, ratio in policy.ratios.items():
        if ratio == 0.0:
            continue
        module = modules[name]
        # torch.nn.utils.prune is untyped; these are its documented entry points.
        if policy.criterion == "random":
            prune.random_unstructured(module, "weight", amount=ratio)  # type: ignore[no-untyped-call]
        else:
            scores = _scores(module.get_parameter("weight"), policy.criterion)
            prune.l1_unstructured(  # type: ignore[no-untyped-call]
                module, "weight", amount=ratio, importance_scores=scores
            )
        prune.remove(module, "weight")  # type: ignore[no-untyped-call]


def _scores(weight: torch.Tensor, criterion: str) -> torch.Tensor:
    if criterion == "taylor":
        assert weight.grad is not None, "gradients are accumulated before pruning"
        return (weight.detach() * weight.grad).abs()
    return weight.detach().abs()
