"""``Policy``: how much of each layer to remove, and how to choose what goes."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pruning.analysis import AnalysisReport
from pruning.exceptions import PolicyError
from pruning.policy._criteria import CRITERIA, GRANULARITIES, UNSTRUCTURED_CRITERIA

_FIELDS = ("ratios", "criterion", "granularity", "round_to")


@dataclass(frozen=True)
class Policy:
    """Per-layer pruning ratios keyed by qualified module name, plus how to apply them.

    ``ratios[name]`` is the fraction of ``name``'s output channels removed (``granularity=
    "channel"``) or of its weights zeroed (``"unstructured"``), in [0, 1). Layers not named keep
    everything. With channel granularity the layers of one coupled group share their channels,
    so a policy may name any of them, but must not give them different ratios. ``round_to``
    rounds the channels kept to a multiple (hardware-friendly widths); it has no effect on
    unstructured pruning. Names are checked against a model by :meth:`validate`.
    """

    ratios: Mapping[str, float] = field(default_factory=dict)
    criterion: str = "l2"
    granularity: str = "channel"
    round_to: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.ratios, Mapping):
            raise PolicyError(
                f"ratios must be a mapping of layer name to ratio, got {self.ratios!r}"
            )
        ratios: dict[str, float] = {}
        for name, ratio in self.ratios.items():
            if not isinstance(name, str) or not name:
                raise PolicyError(f"ratios keys must be layer names, got {name!r}")
            if isinstance(ratio, bool) or not isinstance(ratio, int | float):
                raise PolicyError(f"ratio for layer {name!r} must be a number, got {ratio!r}")
            if not (0.0 <= ratio < 1.0) or math.isnan(ratio):
                raise PolicyError(f"ratio for layer {name!r} must be in [0, 1), got {ratio}")
            ratios[name] = float(ratio)
        object.__setattr__(self, "ratios", MappingProxyType(ratios))
        if self.granularity not in GRANULARITIES:
            raise PolicyError(
                f"granularity must be one of {GRANULARITIES}, got {self.granularity!r}"
            )
        allowed = CRITERIA if self.granularity == "channel" else UNSTRUCTURED_CRITERIA
        if self.criterion not in allowed:
            raise PolicyError(
                f"criterion {self.criterion!r} is not available with {self.granularity} "
                f"granularity; choose one of {allowed}"
            )
        if (
            isinstance(self.round_to, bool)
            or not isinstance(self.round_to, int)
            or self.round_to < 1
        ):
            raise PolicyError(f"round_to must be an integer >= 1, got {self.round_to!r}")

    def __hash__(self) -> int:
        return hash(
            (tuple(sorted(self.ratios.items())), self.criterion, self.granularity, self.round_to)
        )

    @classmethod
    def uniform(
        cls,
        report: AnalysisReport,
        ratio: float,
        *,
        criterion: str = "l2",
        granularity: str = "channel",
        round_to: int = 1,
    ) -> Policy:
        """The same ``ratio`` on every prunable layer of ``report``."""
        return cls(
            ratios=dict.fromkeys(report.layer_names, ratio),
            criterion=criterion,
            granularity=granularity,
            round_to=round_to,
        )

    def validate(self, report: AnalysisReport) -> dict[int, float]:
        """Check every name against ``report``; return the ratio of each group it prunes.

        For unstructured policies the result is keyed by group as well (for reporting); the
        per-layer ratios in ``self.ratios`` are what gets applied.

        Raises:
            PolicyError: an unknown or excluded layer, or one group given two ratios.
        """
        by_group: dict[int, tuple[str, float]] = {}
        for name, ratio in self.ratios.items():
            layer = report.layer(name)
            if layer is None:
                raise PolicyError(_unknown_layer_message(name, report))
            if self.granularity != "channel" or ratio == 0.0:
                by_group.setdefault(layer.group, (name, ratio))
                continue
            seen = by_group.get(layer.group)
            if seen is not None and seen[1] not in (0.0, ratio):
                raise PolicyError(
                    f"layers {seen[0]!r} and {name!r} are coupled (group {layer.group}: "
                    f"{', '.join(report.groups[layer.group].layers)}) and must share one ratio, "
                    f"got {seen[1]} and {ratio}"
                )
            by_group[layer.group] = (name, ratio)
        return {group: ratio for group, (_, ratio) in by_group.items() if ratio > 0.0}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ratios": dict(self.ratios),
            "criterion": self.criterion,
            "granularity": self.granularity,
            "round_to": self.round_to,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        if not isinstance(data, Mapping):
            raise PolicyError(f"a policy must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise PolicyError(f"unknown policy field(s) {unknown}; allowed: {list(_FIELDS)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Policy:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"policy is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _unknown_layer_message(name: str, report: AnalysisReport) -> str:
    reason = report.exclusion(name)
    if reason is not None:
        return f"layer {name!r} cannot be pruned: {reason}"
    close = difflib.get_close_matches(name, report.layer_names, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return (
        f"unknown layer {name!r}{hint} (prunable layers: "
        f"{', '.join(report.layer_names[:12])}{', ...' if len(report.layer_names) > 12 else ''})"
    )


def kept_channels(channels: int, ratio: float, round_to: int) -> int:
    """Channels left when ``ratio`` of ``channels`` go, rounded to a multiple of ``round_to``.

    At least one channel (or one multiple of ``round_to``) always stays; a layer narrower than
    ``round_to`` is left whole.
    """
    keep = max(1, round(channels * (1.0 - ratio)))
    if round_to > 1:
        if channels <= round_to:
            return channels
        keep = max(round_to, round_to * round(keep / round_to))
    return min(channels, keep)
