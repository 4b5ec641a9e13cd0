"""What :func:`pruning.analyze` finds: prunable layers, coupled groups, excluded layers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from pruning._inputs import Shape


@dataclass(frozen=True)
class LayerInfo:
    """A layer whose output channels may be removed.

    ``group`` is the id of the :class:`GroupInfo` it belongs to: every layer of a group loses
    the same channels, so a policy gives a group one ratio.
    """

    name: str
    kind: str
    out_channels: int
    group: int


@dataclass(frozen=True)
class GroupInfo:
    """Layers whose output channels are coupled (residual add, concat, depthwise conv, shared BN).

    Iterating a group yields its layer names; ``root`` is the layer the group is pruned from.
    """

    id: int
    root: str
    layers: tuple[str, ...]
    channels: int

    def __iter__(self) -> Iterator[str]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __contains__(self, name: object) -> bool:
        return name in self.layers


@dataclass(frozen=True)
class AnalysisReport:
    """The result of :func:`pruning.analyze`.

    ``prunable`` lists layers in module order; ``groups`` the coupled sets they form;
    ``excluded`` the conv and linear layers (and unsupported modules) left alone, each with the
    reason. ``input_shapes``/``output_shapes`` are those of the example inputs and outputs;
    ``params`` and ``macs`` those of the unpruned model (MACs for the example inputs).
    """

    model_class: str
    prunable: tuple[LayerInfo, ...]
    groups: tuple[GroupInfo, ...]
    excluded: tuple[tuple[str, str], ...]
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]
    params: int
    macs: int
    _by_name: dict[str, LayerInfo] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {layer.name: layer for layer in self.prunable})

    def layer(self, name: str) -> LayerInfo | None:
        """The prunable layer called ``name``, or None."""
        return self._by_name.get(name)

    def group_of(self, name: str) -> GroupInfo | None:
        layer = self._by_name.get(name)
        return None if layer is None else self.groups[layer.group]

    def exclusion(self, name: str) -> str | None:
        """Why ``name`` is left alone, or None if it is not excluded."""
        return next((reason for excluded, reason in self.excluded if excluded == name), None)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.prunable)

    def to_dict(self) -> dict[str, object]:
        return {
            "model_class": self.model_class,
            "prunable": [vars(layer) for layer in self.prunable],
            "groups": [
                {"id": g.id, "root": g.root, "layers": list(g.layers), "channels": g.channels}
                for g in self.groups
            ],
            "excluded": [list(item) for item in self.excluded],
            "input_shapes": [list(s) for s in self.input_shapes],
            "output_shapes": [list(s) for s in self.output_shapes],
            "params": self.params,
            "macs": self.macs,
        }
