"""Structured (channel) pruning through Torch-Pruning's dependency graph."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch_pruning as tp
from torch import nn

from pruning._graph import build_graph, out_channels, pruning_group, remove_channels
from pruning.analysis import AnalysisReport
from pruning.exceptions import PolicyError
from pruning.policy import Policy, channel_importance, kept_channels


def prune_channels(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    report: AnalysisReport,
    policy: Policy,
    group_ratios: Mapping[int, float],
) -> dict[str, int]:
    """Remove the least important channels of each group in place; return kept per group root.

    Each group is scored with the policy's criterion on the model as it stands when the group's
    turn comes (as Torch-Pruning's own pruners do), and pruned from its root layer.
    """
    dg = build_graph(model, inputs)
    modules = dict(model.named_modules())
    importance = channel_importance(policy.criterion)
    # bn_scale has nothing to rank a group without BatchNorm by; weights' l1 stands in.
    fallback = tp.importance.GroupMagnitudeImportance(p=1)
    kept: dict[str, int] = {}
    for group_id in sorted(group_ratios):
        info = report.groups[group_id]
        root = modules.get(info.root)
        if root is None or out_channels(dg, root) != info.channels:
            raise PolicyError(
                f"the analysis report does not describe this model (group {group_id}, "
                f"layer {info.root!r}); analyze the model you prune"
            )
        keep = kept_channels(info.channels, group_ratios[group_id], policy.round_to)
        if keep >= info.channels:
            continue
        group = pruning_group(dg, root, range(info.channels))
        scores = importance(group)
        if scores is None:
            scores = fallback(group)
        drop = torch.argsort(scores.flatten())[: info.channels - keep]
        remove_channels(dg, root, sorted(int(i) for i in drop))
        kept[info.root] = keep
    return kept


def shrink(model: nn.Module, inputs: tuple[torch.Tensor, ...], kept: Mapping[str, int]) -> None:
    """Give each group root ``kept[root]`` channels (the first ones), for rebuilding a bundle's
    architecture before its weights are loaded; which channels go does not matter there."""
    dg = build_graph(model, inputs)
    modules = dict(model.named_modules())
    for root_name, keep in kept.items():
        root = modules.get(root_name)
        if root is None:
            raise PolicyError(f"layer {root_name!r} does not exist in this architecture")
        channels = out_channels(dg, root)
        if not 0 < keep <= channels:
            raise PolicyError(f"layer {root_name!r} has {channels} channels, cannot keep {keep}")
        if keep < channels:
            remove_channels(dg, root, range(keep, channels))


def score_groups(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    report: AnalysisReport,
    criterion: str,
) -> dict[int, torch.Tensor]:
    """Each group's per-channel importance, normalised by its mean so groups compare.

    This is what a global ranking needs: one threshold over all groups' scores. Gradients
    for ``taylor`` must already be on ``model``'s weights.
    """
    dg = build_graph(model, inputs)
    modules = dict(model.named_modules())
    importance = channel_importance(criterion)
    fallback = tp.importance.GroupMagnitudeImportance(p=1)
    scores: dict[int, torch.Tensor] = {}
    for info in report.groups:
        group = pruning_group(dg, modules[info.root], range(info.channels))
        raw = importance(group)
        raw = fallback(group) if raw is None else raw
        raw = raw.detach().flatten().float().cpu()
        scores[info.id] = raw / raw.mean().clamp_min(1e-12)
    return scores
