"""Helpers shared by the measuring functions: input normalisation, devices, modes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

#: What callers may pass as example inputs: one tensor, or a tuple of them.
Inputs = torch.Tensor | tuple[torch.Tensor, ...]


def as_tuple(example_inputs: Inputs) -> tuple[torch.Tensor, ...]:
    """Return ``example_inputs`` as a tuple of tensors, so the model is called ``model(*t)``."""
    inputs = (example_inputs,) if isinstance(example_inputs, torch.Tensor) else example_inputs
    if not isinstance(inputs, tuple) or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise TypeError(
            "example_inputs must be a Tensor or a tuple of Tensors, "
            f"got {type(example_inputs).__name__}"
        )
    return inputs


def model_device(model: nn.Module) -> torch.device:
    """The device the model's first parameter (or buffer) lives on; CPU for an empty model."""
    for param in model.parameters():
        return param.device
    for buffer in model.buffers():
        return buffer.device
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


def to_device(inputs: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """Move every input to ``device`` (a no-op for tensors already there)."""
    return tuple(t.to(device) for t in inputs)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode and restore every submodule's own flag afterwards.

    Restoring per submodule (not just ``model.train(was_training)``) matters: callers
    freeze parts of a model in eval mode (e.g. BatchNorm during fine-tuning), and a
    measurement must not unfreeze them.
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
