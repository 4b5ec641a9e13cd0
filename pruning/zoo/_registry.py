"""Look-up of the built-in architectures by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from pruning.exceptions import ZooError
from pruning.zoo._mlp import mlp
from pruning.zoo._mobilenet import mobilenet_v2
from pruning.zoo._resnet import resnet20
from pruning.zoo._small_cnn import small_cnn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "mlp": mlp,
    "mobilenet_v2": mobilenet_v2,
    "resnet20": resnet20,
    "small_cnn": small_cnn,
}


def names() -> tuple[str, ...]:
    """The names :func:`build` accepts, sorted."""
    return tuple(sorted(_BUILDERS))


def build(name: str, *, num_classes: int = 10, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """Build the built-in architecture ``name`` with freshly initialised weights.

    ``kwargs`` are the builder's own options (e.g. ``width`` for ``small_cnn``); see the
    builder functions. Weights are drawn from PyTorch's global RNG: the same
    ``torch.manual_seed`` gives the same model.

    Raises:
        ZooError: ``name`` is unknown (the message lists the known names), an option is not
            one the builder takes, or a value is invalid (the message names the argument).
    """
    builder = _BUILDERS.get(name) if isinstance(name, str) else None
    if builder is None:
        raise ZooError(f"unknown zoo model {name!r}; known models: {', '.join(names())}")
    options = _options(builder)
    unknown = sorted(set(kwargs) - options)
    if unknown:
        accepted = ", ".join(sorted(options)) or "none"
        raise ZooError(
            f"unknown argument {unknown[0]!r} for zoo model {name!r}; "
            f"accepted: num_classes, in_channels, {accepted}"
        )
    return builder(num_classes=num_classes, in_channels=in_channels, **kwargs)


def _options(builder: Callable[..., nn.Module]) -> set[str]:
    """The builder's own keyword options, i.e. all but ``num_classes`` and ``in_channels``."""
    params = inspect.signature(builder).parameters
    return set(params) - {"num_classes", "in_channels"}
