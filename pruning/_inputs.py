"""Example inputs and outputs: one normal form for every entry point of the library."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

import torch
from torch import nn

from pruning.exceptions import AnalysisError

ExampleInputs: TypeAlias = torch.Tensor | Sequence[torch.Tensor]
Shape: TypeAlias = tuple[int, ...]


def as_tuple(example_inputs: ExampleInputs) -> tuple[torch.Tensor, ...]:
    """Normalise a tensor or a sequence of tensors to a tuple passed as ``model(*inputs)``."""
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, Sequence) and example_inputs:
        inputs = tuple(example_inputs)
        if all(isinstance(t, torch.Tensor) for t in inputs):
            return inputs
    raise AnalysisError(
        "example_inputs must be a tensor or a non-empty sequence of tensors, "
        f"got {type(example_inputs).__name__}"
    )


def flat_outputs(output: Any) -> list[torch.Tensor]:
    """The tensors of a model output (a tensor, or nested tuples, lists and dicts of them)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, Mapping):
        return [t for key in sorted(output) for t in flat_outputs(output[key])]
    if isinstance(output, list | tuple):
        return [t for item in output for t in flat_outputs(item)]
    return []


def output_shapes(output: Any) -> tuple[Shape, ...]:
    return tuple(tuple(t.shape) for t in flat_outputs(output))


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for an empty model."""
    for tensor in [*model.parameters(), *model.buffers()]:
        return tensor.device
    return torch.device("cpu")


def resolve_device(device: str | torch.device) -> torch.device:
    """``torch.device(device)`` with the current CUDA index filled in when none is given.

    Parameters report ``cuda:0``, never ``cuda``; without the index, a model already on the
    GPU would compare as "elsewhere" and be copied for nothing.
    """
    resolved = torch.device(device)
    if resolved.type == "cuda" and resolved.index is None and torch.cuda.is_available():
        resolved = torch.device("cuda", torch.cuda.current_device())
    return resolved


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode and restore every submodule's own flag afterwards.

    Restoring per submodule (not just ``model.train(was_training)``) matters: callers freeze
    parts of a model in eval mode (BatchNorm during fine-tuning, say), and a measurement or a
    trace must not unfreeze them.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def to_device(inputs: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(t.to(device) for t in inputs)


def training_modes(model: nn.Module) -> dict[str, bool]:
    """Each submodule's train/eval flag, to put back after tracing (which calls ``eval()``)."""
    return {name: module.training for name, module in model.named_modules()}


def restore_modes(model: nn.Module, modes: Mapping[str, bool]) -> None:
    for name, module in model.named_modules():
        if name in modes:
            module.training = modes[name]


@torch.no_grad()
def run_forward(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> Any:
    """One forward pass in eval mode; the model's modes are restored afterwards."""
    with eval_mode(model):
        return model(*inputs)
