"""``apply_policy``: a pruned copy of a model, checked by a forward pass."""

from __future__ import annotations

import copy

import torch
from torch import nn

from pruning._inputs import (
    ExampleInputs,
    as_tuple,
    model_device,
    output_shapes,
    restore_modes,
    run_forward,
    to_device,
    training_modes,
)
from pruning.analysis import AnalysisReport, analyze
from pruning.apply._gradients import DataSample, accumulate_gradients, clear_gradients
from pruning.apply._record import PruneRecord, attach, width
from pruning.apply._structured import prune_channels
from pruning.apply._unstructured import prune_weights
from pruning.exceptions import PruningError, ShapeError
from pruning.policy import Policy


def apply_policy(
    model: nn.Module,
    policy: Policy,
    example_inputs: ExampleInputs,
    *,
    report: AnalysisReport | None = None,
    data: DataSample | None = None,
    seed: int = 0,
) -> nn.Module:
    """Return a pruned copy of ``model``; ``model`` itself is never modified.

    Channel granularity removes channels through Torch-Pruning's dependency graph, so coupled
    layers shrink together; unstructured granularity zeroes weights with
    ``torch.nn.utils.prune`` and removes the masks. The result is checked with a forward pass
    on ``example_inputs`` and must give outputs of the original shapes.

    Args:
        report: the :func:`analyze` report of ``model``, to skip analysing it again.
        data: labelled data for the ``taylor`` criterion (a batch or a DataLoader).
        seed: seeds the ``random`` criterion.

    Raises:
        PolicyError: the policy names unknown or excluded layers, or lacks data for taylor.
        ShapeError: the pruned model fails its forward check.
    """
    inputs = to_device(as_tuple(example_inputs), model_device(model))
    report = analyze(model, inputs) if report is None else report
    group_ratios = policy.validate(report)
    pruned = copy.deepcopy(model)
    modes = training_modes(pruned)
    kept: dict[str, int] = {}
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if policy.criterion == "taylor":
                accumulate_gradients(pruned, data)
            if policy.granularity == "channel":
                kept = prune_channels(pruned, inputs, report, policy, group_ratios)
            else:
                prune_weights(pruned, policy)
    except PruningError:
        raise
    except Exception as exc:
        raise ShapeError(
            f"pruning {report.model_class} failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        clear_gradients(pruned)
        restore_modes(pruned, modes)
    _check_forward(pruned, inputs, report, kept)
    modules = dict(pruned.named_modules())
    original = dict(model.named_modules())
    attach(
        pruned,
        PruneRecord(
            policy=policy.to_dict(),
            input_shapes=report.input_shapes,
            input_dtypes=tuple(str(t.dtype).removeprefix("torch.") for t in inputs),
            kept=kept,
            channels={
                name: (width(original[name]), width(modules[name])) for name in report.layer_names
            },
            before={"params": report.params, "macs": report.macs},
        ),
    )
    return pruned


def _check_forward(
    pruned: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    report: AnalysisReport,
    kept: dict[str, int],
) -> None:
    try:
        shapes = output_shapes(run_forward(pruned, inputs))
    except Exception as exc:
        raise ShapeError(
            f"the pruned {report.model_class} fails its forward pass after pruning groups rooted "
            f"at {sorted(kept)}: {type(exc).__name__}: {exc}"
        ) from exc
    if shapes != report.output_shapes:
        raise ShapeError(
            f"pruning changed the output shape of {report.model_class} from "
            f"{list(report.output_shapes)} to {list(shapes)} (groups rooted at {sorted(kept)})"
        )
