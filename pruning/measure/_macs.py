"""Counting: parameters, non-zero parameters, sparsity and MACs."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd
from torch.utils.flop_counter import FlopCounterMode

from pruning._inputs import ExampleInputs as Inputs
from pruning._inputs import as_tuple, eval_mode, model_device, to_device

__all__ = ["count_macs", "count_nonzero_params", "count_params", "weight_sparsity"]


def count_macs(model: nn.Module, example_inputs: Inputs) -> int:
    """Multiply-accumulates of one forward pass of ``model`` on ``example_inputs`` as given.

    The counter is torch's own :class:`torch.utils.flop_counter.FlopCounterMode`, run on a
    no-grad, eval-mode forward; MACs are its total FLOPs // 2. It counts the convolution,
    matmul and linear (``mm``/``addmm``/``bmm``) kernels, i.e. the multiply-accumulates that
    structured pruning removes; grouped/depthwise convolutions are counted with their groups.
    Biases, BatchNorm, activations, pooling and other element-wise ops count as zero. Fused
    CPU kernels it has no formula for (CPU scaled-dot-product attention, the fast path of
    ``nn.MultiheadAttention``, ``nn.LSTM``) also count as zero.

    The figure is for the batch given: twice the batch, twice the MACs. The inputs are moved
    to the model's device; the model is not modified and its train/eval flags are restored.
    """
    inputs = to_device(as_tuple(example_inputs), model_device(model))
    # display=False: the counter would otherwise print a table on exit.
    counter = FlopCounterMode(display=False)
    with eval_mode(model), torch.no_grad(), counter:
        model(*inputs)
    return int(counter.get_total_flops()) // 2


def count_params(model: nn.Module) -> int:
    """All parameters, dense count (zeros included; shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters())


def count_nonzero_params(model: nn.Module) -> int:
    """Non-zero entries of all parameters, as the forward pass sees them.

    A layer under ``torch.nn.utils.prune`` keeps a dense ``weight_orig`` parameter and a
    ``weight_mask`` buffer; its effective weight is ``module.weight``, so that is counted.
    """
    return sum(int(torch.count_nonzero(t)) for t in _effective_parameters(model))


def weight_sparsity(model: nn.Module) -> float:
    """Fraction of zero entries in the weights of convolution and linear layers (0.0 if none)."""
    total = 0
    zeros = 0
    for module in model.modules():
        if isinstance(module, _ConvNd | nn.Linear):
            # getattr, not the parameter: under torch.nn.utils.prune the masked weight
            # is a plain attribute recomputed before each forward.
            weight = getattr(module, "weight", None)
            if isinstance(weight, torch.Tensor):
                total += weight.numel()
                zeros += weight.numel() - int(torch.count_nonzero(weight))
    return zeros / total if total else 0.0


def _effective_parameters(model: nn.Module) -> Iterator[torch.Tensor]:
    """Each parameter once, replaced by its masked value where ``nn.utils.prune`` is applied."""
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen:
                continue
            seen.add(id(param))
            base = name.removesuffix("_orig")
            masked = getattr(module, base, None) if base != name else None
            if hasattr(module, f"{base}_mask") and isinstance(masked, torch.Tensor):
                yield masked.detach()
            else:
                yield param.detach()
