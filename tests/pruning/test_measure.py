"""Tests of :mod:`pruning.measure`: hand-computed counts, invariance of the model, latency."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.modules import module as module_globals
from torch.nn.utils import prune

from pruning.exceptions import AnalysisError
from pruning.measure import Measurement, count_macs, measure

# Conv2d(3, w, 3, padding=1) on 3x8x8 keeps 8x8 outputs; then Linear(w*64, 10).
CONV_MACS_PER_SAMPLE = 8 * 3 * 9 * 64
LINEAR_MACS_PER_SAMPLE = 8 * 64 * 10


def _net(width: int = 8) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(width * 64, 10),
    )


def _inputs(batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def test_params_and_macs_match_hand_computed_values() -> None:
    m = measure(_net(), _inputs())
    conv_params = 8 * 3 * 9 + 8
    bn_params = 2 * 8
    linear_params = 8 * 64 * 10 + 10
    assert m.params == conv_params + bn_params + linear_params
    # BatchNorm's bias starts at zero: the only zeros in a fresh net.
    assert m.nonzero_params == m.params - 8
    assert m.macs == CONV_MACS_PER_SAMPLE + LINEAR_MACS_PER_SAMPLE
    assert m.sparsity == 0.0


def test_single_conv_macs() -> None:
    assert count_macs(nn.Conv2d(3, 8, 3, padding=1), _inputs()) == CONV_MACS_PER_SAMPLE


def test_depthwise_conv_counts_its_groups() -> None:
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
    assert count_macs(conv, torch.randn(1, 8, 8, 8)) == 8 * 9 * 64


def test_linear_macs_and_tuple_inputs() -> None:
    class Add(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(6, 4)

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.fc(a + b)
            return out

    x = torch.randn(2, 6)
    assert count_macs(Add(), (x, x)) == 2 * 6 * 4
    assert measure(Add(), (x, x)).macs == 2 * 6 * 4


def test_macs_scale_with_batch() -> None:
    net = _net()
    assert count_macs(net, _inputs(4)) == 4 * count_macs(net, _inputs(1))


def test_narrower_net_has_fewer_macs_and_params() -> None:
    wide, narrow = measure(_net(8), _inputs()), measure(_net(4), _inputs())
    assert narrow.macs < wide.macs
    assert narrow.params < wide.params


def test_latency_fields_when_requested() -> None:
    m = measure(
        _net(), _inputs(), latency=True, batch_size=3, threads=1, warmup=1, min_run_time=0.05
    )
    assert m.latency_ms is not None
    assert m.latency_ms > 0
    assert m.latency_iqr_ms is not None
    assert m.latency_iqr_ms >= 0
    assert m.repeats is not None
    assert m.repeats > 0
    assert (m.device, m.batch_size, m.threads) == ("cpu", 3, 1)
    # MACs stay those of the example inputs as given, not of the timed batch.
    assert m.macs == CONV_MACS_PER_SAMPLE + LINEAR_MACS_PER_SAMPLE


def test_latency_fields_are_none_when_not_requested() -> None:
    m = measure(_net(), _inputs(2))
    assert (m.latency_ms, m.latency_iqr_ms, m.repeats) == (None, None, None)
    assert m.device == "cpu"
    assert m.batch_size == 2
    assert m.threads == torch.get_num_threads()


def test_threads_restored_after_latency() -> None:
    before = torch.get_num_threads()
    measure(_net(), _inputs(), latency=True, threads=1, warmup=0, min_run_time=0.01)
    assert torch.get_num_threads() == before


def test_sparsity_after_zeroing_half_the_weights() -> None:
    net = _net()
    with torch.no_grad():
        for layer in (net[0], net[4]):
            assert isinstance(layer, nn.Conv2d | nn.Linear)
            flat = layer.weight.view(-1)
            flat[: flat.numel() // 2] = 0.0
    m = measure(net, _inputs())
    assert m.sparsity == pytest.approx(0.5, abs=0.01)
    assert m.nonzero_params < m.params


def test_sparsity_sees_torch_prune_masks() -> None:
    net = _net()
    prune.l1_unstructured(net[4], name="weight", amount=0.5)  # type: ignore[no-untyped-call]
    m = measure(net, _inputs())
    linear = 8 * 64 * 10
    conv = 8 * 3 * 9
    assert m.sparsity == pytest.approx((linear // 2) / (linear + conv), abs=1e-3)
    assert m.params == measure(_net(), _inputs()).params
    assert m.nonzero_params == measure(_net(), _inputs()).nonzero_params - linear // 2


def test_model_is_untouched() -> None:
    net = _net()
    net.train()
    net[1].eval()  # a frozen BatchNorm must stay frozen
    net[0].weight.requires_grad_(False)
    before = copy.deepcopy(net.state_dict())
    global_hooks = _global_hook_counts()
    measure(net, _inputs(), latency=True, batch_size=2, warmup=1, min_run_time=0.01)
    after = net.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert net.training
    assert not net[1].training
    assert [m.training for m in net if m is not net[1]] == [True] * 4
    assert not net[0].weight.requires_grad
    assert net[4].weight.requires_grad
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())
    assert all(p.device.type == "cpu" for p in net.parameters())
    assert _global_hook_counts() == global_hooks


def _global_hook_counts() -> tuple[int, int]:
    # FlopCounterMode tracks modules with global hooks; they must be gone afterwards.
    return len(module_globals._global_forward_hooks), len(module_globals._global_forward_pre_hooks)


def test_to_dict_round_trips() -> None:
    m = measure(_net(), _inputs())
    assert Measurement(**m.to_dict()) == m  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "value"),
    [("batch_size", 0), ("threads", 0), ("warmup", -1), ("min_run_time", 0.0)],
)
def test_bad_options_are_refused(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        measure(_net(), _inputs(), **{option: value})  # type: ignore[arg-type]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(AnalysisError, match="example_inputs"):
        measure(_net(), "not a tensor")  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_latency_leaves_model_on_cpu() -> None:
    net = _net()
    m = measure(net, _inputs(), latency=True, device="cuda", warmup=2, min_run_time=0.05)
    assert m.device.startswith("cuda")
    assert m.latency_ms is not None
    assert m.latency_ms > 0
    assert all(p.device.type == "cpu" for p in net.parameters())
