"""Latency with torch's own benchmark timer: warm-up, repeats, median and IQR."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.benchmark import Timer

from pruning._inputs import eval_mode, model_device, to_device

__all__ = ["Latency", "time_forward", "with_batch_size"]


@dataclass(frozen=True)
class Latency:
    """One latency figure: median and IQR (ms) over ``repeats`` timed forward calls."""

    median_ms: float
    iqr_ms: float
    repeats: int


def with_batch_size(inputs: tuple[torch.Tensor, ...], batch_size: int) -> tuple[torch.Tensor, ...]:
    """Repeat every input along dim 0 (cycling its rows) until it has ``batch_size`` rows."""
    resized = []
    for tensor in inputs:
        if tensor.dim() == 0 or tensor.shape[0] == 0:
            raise ValueError(
                "batch_size needs example inputs with a non-empty batch dimension (dim 0), "
                f"got shape {tuple(tensor.shape)}"
            )
        reps = math.ceil(batch_size / tensor.shape[0])
        # repeat, not expand: expanded (stride-0) inputs can take faster or slower kernels
        # than a real batch, and the figure must be that of a real batch.
        resized.append(tensor.repeat(reps, *([1] * (tensor.dim() - 1)))[:batch_size].contiguous())
    return tuple(resized)


def time_forward(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    *,
    device: torch.device,
    threads: int,
    warmup: int,
    min_run_time: float,
) -> Latency:
    """Time ``model(*inputs)`` on ``device`` in eval and inference mode.

    The caller's model is never moved: if it lives elsewhere, a deep copy is timed.
    ``torch.utils.benchmark.Timer`` sets the thread count for the measurement and
    synchronizes accelerators around each block, so CUDA figures include the kernels.
    """
    if model_device(model) != device:
        model = copy.deepcopy(model).to(device)
    inputs = to_device(inputs, device)
    timer = Timer(
        stmt="model(*inputs)",
        globals={"model": model, "inputs": inputs},
        num_threads=threads,
    )
    # Timer runs the statement in this thread, so inference_mode applies to every call.
    with eval_mode(model), torch.inference_mode():
        _warm_up(model, inputs, threads=threads, calls=warmup)
        result = timer.blocked_autorange(min_run_time=min_run_time)
    # Each sample is the mean of one block of `number_per_run` calls; median and IQR are
    # taken over those samples, in seconds.
    return Latency(
        median_ms=result.median * 1e3,
        iqr_ms=result.iqr * 1e3,
        repeats=len(result.raw_times) * result.number_per_run,
    )


def _warm_up(
    model: nn.Module, inputs: tuple[torch.Tensor, ...], *, threads: int, calls: int
) -> None:
    """Untimed calls with the timed thread count (allocator, kernel choice, caches)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for _ in range(calls):
            model(*inputs)
        if _on_accelerator(inputs):
            torch.accelerator.synchronize()
    finally:
        torch.set_num_threads(previous)


def _on_accelerator(inputs: tuple[torch.Tensor, ...]) -> bool:
    """True when the inputs live on an accelerator whose work is asynchronous."""
    return any(t.device.type not in ("cpu", "meta") for t in inputs)
