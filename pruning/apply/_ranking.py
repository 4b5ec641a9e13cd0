"""``group_importance``: channel scores of every group, comparable across groups."""

from __future__ import annotations

import copy

import torch
from torch import nn

from pruning._inputs import ExampleInputs, as_tuple, model_device, to_device
from pruning.analysis import AnalysisReport, analyze
from pruning.apply._gradients import DataSample, accumulate_gradients
from pruning.apply._structured import score_groups
from pruning.exceptions import PolicyError
from pruning.policy import CRITERIA


def group_importance(
    model: nn.Module,
    example_inputs: ExampleInputs,
    *,
    criterion: str = "l2",
    report: AnalysisReport | None = None,
    data: DataSample | None = None,
    seed: int = 0,
) -> dict[int, torch.Tensor]:
    """Importance of each channel of each group of ``report``, keyed by group id.

    Scores are divided by their group's mean, so one threshold across all groups ranks
    channels globally (the global-pruning baseline). ``model`` is not modified.
    """
    if criterion not in CRITERIA:
        raise PolicyError(f"criterion {criterion!r} is unknown; choose one of {CRITERIA}")
    inputs = to_device(as_tuple(example_inputs), model_device(model))
    report = analyze(model, inputs) if report is None else report
    scratch = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if criterion == "taylor":
            accumulate_gradients(scratch, data)
        return score_groups(scratch, inputs, report, criterion)
