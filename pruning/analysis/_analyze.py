"""``analyze``: which layers of a model can lose output channels, in which coupled groups."""

from __future__ import annotations

import copy

import torch
import torch_pruning as tp
from torch import nn

from pruning._graph import ROOT_TYPES, RawGroup, build_graph, iter_groups, remove_channels
from pruning._inputs import (
    ExampleInputs,
    Shape,
    as_tuple,
    model_device,
    output_shapes,
    run_forward,
    to_device,
)
from pruning.analysis._report import AnalysisReport, GroupInfo, LayerInfo
from pruning.exceptions import AnalysisError
from pruning.measure import count_macs


def analyze(model: nn.Module, example_inputs: ExampleInputs) -> AnalysisReport:
    """Find the prunable layers of ``model``, their coupled groups, and what is left alone.

    The model is traced once with Torch-Pruning's dependency graph on ``example_inputs``
    (called as ``model(*inputs)``). Groups whose channels reach the model output are excluded,
    as are groups coupled to parameters outside known layers and grouped (non-depthwise) convs.
    Every remaining group is then checked by removing one channel on a copy and running a
    forward pass: groups whose change breaks the forward or alters the output shape (a
    hard-coded reshape or width) are excluded with the error seen. ``model`` is not modified.

    Raises:
        AnalysisError: the model does not run or cannot be traced on ``example_inputs``.
    """
    inputs = to_device(as_tuple(example_inputs), model_device(model))
    shapes = _reference_shapes(model, inputs)
    dg = build_graph(model, inputs)
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}

    candidates: list[RawGroup] = []
    excluded: dict[str, str] = {}
    for _, raw in iter_groups(dg):
        reason = _static_exclusion(raw)
        if reason is None:
            candidates.append(raw)
        else:
            excluded.update(dict.fromkeys(raw.layers, reason))
    for root, error in _breaking_groups(model, inputs, candidates, shapes).items():
        raw = next(g for g in candidates if g.root == root)
        candidates.remove(raw)
        reason = f"the forward pass breaks when its channels change (a hard-coded shape?): {error}"
        excluded.update(dict.fromkeys(raw.layers, reason))
    excluded.update(_untouched_layers(model, dg, candidates, excluded))

    # Any member can root a group's pruning; the first in module order reads best.
    members = [(tuple(sorted(g.layers, key=order.__getitem__)), g.channels) for g in candidates]
    members.sort(key=lambda item: order[item[0][0]])
    modules = dict(model.named_modules())
    groups = tuple(
        GroupInfo(id=i, root=layers[0], layers=layers, channels=channels)
        for i, (layers, channels) in enumerate(members)
    )
    prunable = sorted(
        (
            LayerInfo(name=n, kind=layer_kind(modules[n]), out_channels=g.channels, group=g.id)
            for g in groups
            for n in g.layers
        ),
        key=lambda layer: order[layer.name],
    )
    return AnalysisReport(
        model_class=type(model).__name__,
        prunable=tuple(prunable),
        groups=groups,
        excluded=tuple(sorted(excluded.items(), key=lambda item: order.get(item[0], -1))),
        input_shapes=tuple(tuple(t.shape) for t in inputs),
        output_shapes=shapes,
        params=sum(p.numel() for p in model.parameters()),
        macs=count_macs(model, inputs),
    )


def layer_kind(module: nn.Module) -> str:
    """``linear``, ``conv2d``, ``depthwise_conv1d``, ``conv_transpose2d``, ..."""
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.modules.conv._ConvNd):
        base = "conv_transpose" if module.transposed else "conv"
        depthwise = module.groups > 1 and module.groups == module.in_channels == module.out_channels
        return f"{'depthwise_' if depthwise else ''}{base}{len(module.kernel_size)}d"
    return type(module).__name__.lower()


def _reference_shapes(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[Shape, ...]:
    try:
        output = run_forward(model, inputs)
    except Exception as exc:
        raise AnalysisError(
            f"{type(model).__name__} fails on example inputs of shapes "
            f"{[tuple(t.shape) for t in inputs]}: {type(exc).__name__}: {exc}"
        ) from exc
    shapes = output_shapes(output)
    if not shapes:
        raise AnalysisError(f"{type(model).__name__} returned no tensor to analyse")
    return shapes


def _static_exclusion(raw: RawGroup) -> str | None:
    if raw.feeds_output:
        return "produces the model output: its channels are the output's shape"
    if raw.channels < 2:
        return "has a single output channel"
    if raw.foreign_params:
        return (
            "coupled to parameters outside any layer Torch-Pruning knows "
            f"({', '.join(raw.foreign_params)}); its channels are kept"
        )
    if raw.grouped_conv is not None:
        return f"coupled to grouped convolution {raw.grouped_conv}, whose groups are kept whole"
    return None


def _breaking_groups(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    groups: list[RawGroup],
    shapes: tuple[Shape, ...],
) -> dict[str, str]:
    """Roots of groups whose pruning breaks the model, by group testing (bisection).

    One probe covers every group at once, so a model without hard-coded shapes costs a
    single copy and forward pass; each breaking group costs a logarithmic number more.
    """
    if not groups:
        return {}
    error = _probe(model, inputs, groups, shapes)
    if error is None:
        return {}
    if len(groups) == 1:
        return {groups[0].root: error}
    middle = len(groups) // 2
    return {
        **_breaking_groups(model, inputs, groups[:middle], shapes),
        **_breaking_groups(model, inputs, groups[middle:], shapes),
    }


def _probe(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    groups: list[RawGroup],
    shapes: tuple[Shape, ...],
) -> str | None:
    """Remove one channel from each group on a copy; the error seen, or None if all is well."""
    trial = copy.deepcopy(model)
    try:
        dg = build_graph(trial, inputs)
        modules = dict(trial.named_modules())
        for raw in groups:
            remove_channels(dg, modules[raw.root], [raw.channels - 1])
        got = output_shapes(run_forward(trial, inputs))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    if got != shapes:
        return f"the output shape changes from {list(shapes)} to {list(got)}"
    return None


def _untouched_layers(
    model: nn.Module,
    dg: tp.DependencyGraph,
    candidates: list[RawGroup],
    excluded: dict[str, str],
) -> dict[str, str]:
    """Conv/linear layers in no group, and modules whose own parameters no pruner handles."""
    grouped = {name for g in candidates for name in g.layers} | set(excluded)
    traced = set(dg.module2node)
    found: dict[str, str] = {}
    for name, module in model.named_modules():
        if name in grouped or not name:
            continue
        if isinstance(module, ROOT_TYPES):
            found[name] = "not used in the forward pass" if module not in traced else "not prunable"
        elif _owns_unknown_parameters(module, dg):
            found[name] = (
                f"unsupported layer type {type(module).__name__}: Torch-Pruning has no rule "
                "for it, so it and the channels it consumes are kept"
            )
    return found


def _owns_unknown_parameters(module: nn.Module, dg: tp.DependencyGraph) -> bool:
    if not any(p.dim() >= 2 for p in module.parameters(recurse=False)):
        return False
    op_type = tp.ops.module2type(module)
    return op_type == tp.ops.OPTYPE.ELEMENTWISE and type(module) not in dg.CUSTOMIZED_PRUNERS
