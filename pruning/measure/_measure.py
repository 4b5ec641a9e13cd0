"""The public :func:`measure` and its result, :class:`Measurement`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from pruning._inputs import ExampleInputs as Inputs
from pruning._inputs import as_tuple, resolve_device
from pruning.measure._latency import Latency, time_forward, with_batch_size
from pruning.measure._macs import (
    count_macs,
    count_nonzero_params,
    count_params,
    weight_sparsity,
)

__all__ = ["Measurement", "measure"]


@dataclass(frozen=True)
class Measurement:
    """The figures of one model, with the conditions the latency was taken under.

    Attributes:
        params: All parameters, dense count (zeros included).
        nonzero_params: Non-zero parameter entries (what unstructured pruning reduces).
        macs: Multiply-accumulates of one forward pass on the example inputs as given
            (see :func:`pruning.measure.count_macs`).
        sparsity: Fraction of zero entries in the convolution and linear weights.
        latency_ms: Median time of one forward pass in milliseconds; ``None`` unless
            latency was requested.
        latency_iqr_ms: Interquartile range of that time in milliseconds, or ``None``.
        device: The device latency is (or would be) measured on, e.g. ``"cpu"``.
        batch_size: The batch size latency is (or would be) measured with.
        threads: The CPU thread count latency is (or would be) measured with.
        repeats: Timed forward calls behind the latency figure, or ``None``.
    """

    params: int
    nonzero_params: int
    macs: int
    sparsity: float
    latency_ms: float | None
    latency_iqr_ms: float | None
    device: str
    batch_size: int
    threads: int
    repeats: int | None

    def to_dict(self) -> dict[str, int | float | str | None]:
        """The fields as a JSON-ready dict (for the database, reports and the REST API)."""
        return dataclasses.asdict(self)


def measure(
    model: nn.Module,
    example_inputs: Inputs,
    *,
    latency: bool = False,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
    threads: int | None = None,
    warmup: int = 10,
    min_run_time: float = 0.5,
) -> Measurement:
    """Measure ``model``: parameters, MACs, sparsity and, when asked, latency.

    Args:
        model: The model; called as ``model(*inputs)``. It is never modified: its
            parameters, ``requires_grad`` flags, device and train/eval flags are as before,
            and no hooks are left behind. If it lives on another device than ``device``,
            a deep copy is timed.
        example_inputs: A tensor or a tuple of tensors. MACs are counted on them as
            given (where the model lives); latency uses them resized to ``batch_size``.
        latency: Also time the forward pass (eval mode, ``torch.inference_mode``) with
            ``torch.utils.benchmark.Timer``; otherwise the latency fields are ``None``.
        device: Where latency is measured.
        batch_size: Batch size for latency: inputs are repeated along dim 0 to this size.
            ``None``: the batch as given.
        threads: CPU threads for latency; ``None``: ``torch.get_num_threads()``.
        warmup: Untimed forward calls before timing.
        min_run_time: Seconds of timed calls at least (``Timer.blocked_autorange``).

    Returns:
        A :class:`Measurement`; latency is the median and IQR of the timed blocks.
    """
    _check_options(batch_size=batch_size, threads=threads, warmup=warmup, min_run_time=min_run_time)
    inputs = as_tuple(example_inputs)
    target = resolve_device(device)
    threads = torch.get_num_threads() if threads is None else threads
    timed_inputs = inputs if batch_size is None else with_batch_size(inputs, batch_size)
    timing: Latency | None = None
    if latency:
        timing = time_forward(
            model,
            timed_inputs,
            device=target,
            threads=threads,
            warmup=warmup,
            min_run_time=min_run_time,
        )
    return Measurement(
        params=count_params(model),
        nonzero_params=count_nonzero_params(model),
        macs=count_macs(model, inputs),
        sparsity=weight_sparsity(model),
        latency_ms=None if timing is None else timing.median_ms,
        latency_iqr_ms=None if timing is None else timing.iqr_ms,
        device=str(target),
        batch_size=_batch_of(timed_inputs),
        threads=threads,
        repeats=None if timing is None else timing.repeats,
    )


def _batch_of(inputs: tuple[torch.Tensor, ...]) -> int:
    """The batch size of the inputs: dim 0 of the first, 1 for no inputs or a scalar."""
    if not inputs or inputs[0].dim() == 0:
        return 1
    return int(inputs[0].shape[0])


def _check_options(
    *, batch_size: int | None, threads: int | None, warmup: int, min_run_time: float
) -> None:
    """Refuse option values that would make the figure meaningless, naming the option."""
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1 or None, got {batch_size}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1 or None, got {threads}")
    if warmup < 0:
        raise ValueError(f"warmup must be non-negative, got {warmup}")
    if not min_run_time > 0:
        raise ValueError(f"min_run_time must be positive, got {min_run_time}")
