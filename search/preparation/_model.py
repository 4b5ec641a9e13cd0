"""Building the unpruned model a spec names: a zoo architecture or an allowed factory."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from pruning import ZooError, zoo
from search.exceptions import SpecError
from search.spec import ModelSpec


def model_factory(
    spec: ModelSpec,
    *,
    num_classes: int,
    in_channels: int,
    input_shape: Sequence[int],
    allowed_factories: Sequence[str] | None = None,
) -> Callable[[], nn.Module]:
    """A zero-argument callable building the unpruned architecture ``spec`` names.

    Zoo models get ``num_classes``/``in_channels`` (and ``image_size`` for ``mlp``) from the
    data unless the spec's kwargs set them. ``allowed_factories`` lists module prefixes a
    factory may come from; ``None`` allows any (a local run of the user's own code).
    """
    kwargs = dict(spec.kwargs)
    if spec.zoo is not None:
        name = spec.zoo
        kwargs.setdefault("num_classes", num_classes)
        kwargs.setdefault("in_channels", in_channels)
        if name == "mlp" and len(input_shape) == 3:
            kwargs.setdefault("image_size", int(input_shape[-1]))
        _check_zoo(name, kwargs)
        return lambda: zoo.build(name, **kwargs)
    assert spec.factory is not None
    function = _import_factory(spec.factory, allowed_factories)
    return lambda: _call_factory(function, kwargs, spec.factory or "")


def load_weights(model: nn.Module, path: Path) -> None:
    """Load safetensors or a weights-only state dict into ``model`` (never a pickled module)."""
    try:
        if _is_safetensors(path):
            state = safetensors.torch.load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SpecError(f"cannot read weights: {exc}", field="model.weights") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SpecError("weights must be a state dict of tensors", field="model.weights")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise SpecError(f"weights do not fit the model: {exc}", field="model.weights") from exc


def _is_safetensors(path: Path) -> bool:
    # A safetensors file starts with an 8-byte header length then a JSON header.
    with path.open("rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _check_zoo(name: str, kwargs: dict[str, Any]) -> None:
    try:
        zoo.build(name, **kwargs)
    except ZooError as exc:
        raise SpecError(str(exc), field="model.kwargs") from exc


def _import_factory(reference: str, allowed: Sequence[str] | None) -> Callable[..., Any]:
    module_name, _, attribute = reference.partition(":")
    if allowed is not None and not any(
        module_name == prefix or module_name.startswith(prefix.rstrip(".") + ".")
        for prefix in allowed
    ):
        raise SpecError(
            f"factory module {module_name!r} is not in the operator's allowed list "
            f"({', '.join(allowed) or 'empty'})",
            field="model.factory",
        )
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise SpecError(f"cannot import {reference!r}: {exc}", field="model.factory") from exc
    if not callable(function):
        raise SpecError(f"{reference!r} is not callable", field="model.factory")
    return function  # type: ignore[no-any-return]


def _call_factory(
    function: Callable[..., Any], kwargs: dict[str, Any], reference: str
) -> nn.Module:
    try:
        inspect.signature(function).bind(**kwargs)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"{reference} does not take {kwargs}: {exc}", field="model.kwargs") from exc
    model = function(**kwargs)
    if not isinstance(model, nn.Module):
        raise SpecError(
            f"{reference} returned {type(model).__name__}, not a torch.nn.Module",
            field="model.factory",
        )
    return model
