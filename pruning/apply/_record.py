"""What a pruned model remembers of how it was made, for bundles and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from pruning._inputs import Shape

_ATTRIBUTE = "_prunesearch_record"


@dataclass(frozen=True)
class PruneRecord:
    """The policy applied, the inputs it was traced on, and the channels each group kept."""

    policy: dict[str, Any]
    input_shapes: tuple[Shape, ...]
    input_dtypes: tuple[str, ...]
    kept: dict[str, int] = field(default_factory=dict)
    channels: dict[str, tuple[int, int]] = field(default_factory=dict)
    before: dict[str, int] = field(default_factory=dict)


def attach(model: nn.Module, record: PruneRecord) -> None:
    # A plain attribute: not a parameter or buffer, so state dicts and exports ignore it.
    object.__setattr__(model, _ATTRIBUTE, record)


def record_of(model: nn.Module) -> PruneRecord | None:
    record = model.__dict__.get(_ATTRIBUTE)
    return record if isinstance(record, PruneRecord) else None


def width(module: nn.Module) -> int:
    """Output channels of a conv or linear layer."""
    if isinstance(module, nn.Linear):
        return int(module.out_features)
    return int(getattr(module, "out_channels", 0))
