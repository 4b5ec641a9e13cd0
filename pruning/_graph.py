"""Torch-Pruning's dependency graph, wrapped once for analysis, pruning and bundle loading.

Every structural change in this library goes through ``tp.DependencyGraph`` groups: pruning a
layer's output channels pulls in every coupled layer (BatchNorm, depthwise convs, the inputs of
consumers, residual partners, concatenation slices) so that the result stays consistent.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch_pruning as tp
from torch import nn

from pruning._inputs import flat_outputs, restore_modes, training_modes
from pruning.exceptions import AnalysisError

# Layers whose output channels root a pruning group.
ROOT_TYPES: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear)


@dataclass(frozen=True)
class RawGroup:
    """A coupled set of layers as the dependency graph sees it (module names, not objects)."""

    root: str
    layers: tuple[str, ...]
    channels: int
    feeds_output: bool
    foreign_params: tuple[str, ...]
    grouped_conv: str | None


def build_graph(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tp.DependencyGraph:
    """Trace ``model`` on ``inputs``; the model's train/eval flags are left as they were."""
    modes = training_modes(model)
    outputs: list[object] = []

    def forward(module: nn.Module, args: Sequence[torch.Tensor]) -> object:
        outputs.append(module(*args))
        return outputs[-1]

    try:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dg = tp.DependencyGraph().build_dependency(
                model, example_inputs=inputs, forward_fn=forward, verbose=False
            )
    except Exception as exc:
        raise AnalysisError(
            f"cannot trace {type(model).__name__} with example inputs of shapes "
            f"{[tuple(t.shape) for t in inputs]}: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        restore_modes(model, modes)
    # Torch-Pruning adds an output node only when the last op is not a module; remember the
    # autograd nodes of the outputs so a final layer is recognised either way.
    dg._prunesearch_output_fns = {t.grad_fn for t in flat_outputs(outputs[0]) if t.grad_fn}
    if not dg._prunesearch_output_fns:
        raise AnalysisError(
            f"cannot trace {type(model).__name__}: its outputs carry no autograd history "
            "(detached, or computed under torch.no_grad), so the layer graph is invisible"
        )
    return dg


def module_name(dg: tp.DependencyGraph, module: object) -> str:
    return str(dg._module2name.get(module, repr(module)))


def iter_groups(dg: tp.DependencyGraph) -> Iterator[tuple[nn.Module, RawGroup]]:
    """Every group rooted at a conv or linear layer, with what the analysis needs to judge it."""
    for group in dg.get_all_groups(root_module_types=ROOT_TYPES):
        root = group[0].dep.target.module
        yield root, describe(dg, group)


def describe(dg: tp.DependencyGraph, group: tp.Group) -> RawGroup:
    layers: list[str] = []
    foreign: list[str] = []
    feeds_output = False
    grouped: str | None = None
    for dep, _ in group:
        target = dep.target
        if isinstance(target.module, nn.Parameter):
            # A matrix outside any known layer (a custom op's weight): Torch-Pruning would
            # guess its channel axis, so the group is left alone rather than risk it.
            if target.module.dim() >= 2:
                foreign.append(str(dg._param_to_name.get(target.module, "parameter")))
            continue
        if not dg.is_out_channel_pruning_fn(dep.handler):
            continue
        if target.grad_fn in dg._prunesearch_output_fns or any(
            isinstance(out.module, tp.ops._OutputOp) for out in target.outputs
        ):
            feeds_output = True
        if isinstance(target.module, ROOT_TYPES):
            name = module_name(dg, target.module)
            if name not in layers:
                layers.append(name)
            if _is_grouped_conv(target.module):
                grouped = name
    root = group[0].dep.target.module
    return RawGroup(
        root=module_name(dg, root),
        layers=tuple(layers),
        channels=int(dg.get_out_channels(root)),
        feeds_output=feeds_output,
        foreign_params=tuple(dict.fromkeys(foreign)),
        grouped_conv=grouped,
    )


def _is_grouped_conv(module: nn.Module) -> bool:
    """A grouped (not depthwise) conv: channels can only go in whole groups, unsupported here."""
    if not isinstance(module, nn.modules.conv._ConvNd) or module.groups == 1:
        return False
    return not (module.groups == module.in_channels == module.out_channels)


def out_channels(dg: tp.DependencyGraph, module: nn.Module) -> int:
    return int(dg.get_out_channels(module))


def pruning_group(dg: tp.DependencyGraph, root: nn.Module, idxs: Sequence[int]) -> tp.Group:
    """The group that removes output channels ``idxs`` of ``root`` and everything coupled."""
    pruner = dg.get_pruner_of_module(root)
    return dg.get_pruning_group(root, pruner.prune_out_channels, list(idxs))


def remove_channels(dg: tp.DependencyGraph, root: nn.Module, idxs: Sequence[int]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruning_group(dg, root, idxs).prune()
