"""``sensitivity``: the accuracy lost when one group of layers alone is pruned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from pruning._inputs import ExampleInputs
from pruning.analysis import AnalysisReport, analyze
from pruning.apply import DataSample, apply_policy
from pruning.exceptions import PolicyError
from pruning.finetune import evaluate, recalibrate_bn
from pruning.policy import Policy

__all__ = ["SensitivityResult", "sensitivity"]

DEFAULT_RATIOS = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class SensitivityResult:
    """Accuracy drop (reference minus pruned, in [-1, 1]) per prunable layer and ratio.

    Layers of one coupled group are pruned together, so they share their figures.
    """

    reference_accuracy: float
    ratios: tuple[float, ...]
    drops: Mapping[str, Mapping[float, float]]

    def drop(self, layer: str, ratio: float) -> float:
        return self.drops[layer][ratio]

    def ranked(self, ratio: float) -> list[tuple[str, float]]:
        """Layers from most to least sensitive at ``ratio``."""
        return sorted(((n, d[ratio]) for n, d in self.drops.items()), key=lambda x: -x[1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference_accuracy": self.reference_accuracy,
            "ratios": list(self.ratios),
            "drops": {n: {str(r): d for r, d in v.items()} for n, v in self.drops.items()},
        }


def sensitivity(
    model: nn.Module,
    data: Dataset[Any],
    example_inputs: ExampleInputs,
    *,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    criterion: str = "l2",
    report: AnalysisReport | None = None,
    calibration_data: Dataset[Any] | None = None,
    calibration_batches: int = 50,
    criterion_data: DataSample | None = None,
    batch_size: int = 256,
    device: str = "cpu",
) -> SensitivityResult:
    """Prune each coupled group alone at each ratio and measure accuracy on ``data``.

    With ``calibration_data``, BatchNorm statistics are recalibrated on
    ``calibration_batches`` batches of it before each evaluation (pruning shifts them;
    without recalibration drops are overstated). ``criterion_data`` (a labelled batch or a
    DataLoader; default: ``data``) feeds the ``taylor`` criterion. ``model`` is not modified.
    """
    if not ratios:
        raise PolicyError("sensitivity needs at least one ratio")
    report = analyze(model, example_inputs) if report is None else report
    reference = evaluate(model, data, batch_size=batch_size, device=device).accuracy
    drops: dict[str, dict[float, float]] = {name: {} for name in report.layer_names}
    for group in report.groups:
        for ratio in ratios:
            policy = Policy(ratios={group.root: ratio}, criterion=criterion)
            pruned = apply_policy(
                model,
                policy,
                example_inputs,
                report=report,
                data=data if criterion_data is None else criterion_data,
            )
            if calibration_data is not None:
                recalibrate_bn(pruned, calibration_data, batches=calibration_batches, device=device)
            accuracy = evaluate(pruned, data, batch_size=batch_size, device=device).accuracy
            for name in group.layers:
                drops[name][float(ratio)] = reference - accuracy
    return SensitivityResult(
        reference_accuracy=reference, ratios=tuple(float(r) for r in ratios), drops=drops
    )
