"""The DESIGN.md library contract, on every zoo model x criterion x granularity."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pruning import (
    CRITERIA,
    Policy,
    analyze,
    apply_policy,
    load_bundle,
    measure,
    onnx_available,
    save_bundle,
    zoo,
)
from pruning.policy import UNSTRUCTURED_CRITERIA

MODELS = {
    "small_cnn": ((1, 1, 28, 28), {"in_channels": 1}),
    "resnet20": ((1, 3, 16, 16), {"in_channels": 3}),
    "mobilenet_v2": ((1, 3, 16, 16), {"in_channels": 3}),
    "mlp": ((1, 1, 8, 8), {"in_channels": 1, "image_size": 8}),
}
COMBOS = [(c, "channel") for c in CRITERIA] + [(c, "unstructured") for c in UNSTRUCTURED_CRITERIA]


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request: pytest.FixtureRequest) -> tuple[str, nn.Module, torch.Tensor]:
    name = request.param
    shape, kwargs = MODELS[name]
    torch.manual_seed(0)
    model = zoo.build(name, num_classes=10, **kwargs).eval()
    return name, model, torch.randn(*shape)


@pytest.mark.parametrize(("criterion", "granularity"), COMBOS)
def test_contract(
    case: tuple[str, nn.Module, torch.Tensor], criterion: str, granularity: str, tmp_path: Path
) -> None:
    name, model, x = case
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = analyze(model, x)
    assert report.prunable
    data = (x.repeat(4, *[1] * (x.dim() - 1)), torch.arange(4))
    figures = []
    for ratio in (0.25, 0.5, 0.75):
        policy = Policy.uniform(report, ratio, criterion=criterion, granularity=granularity)
        pruned = apply_policy(model, policy, x, report=report, data=data)
        assert pruned(x).shape == model(x).shape
        figures.append(measure(pruned, x))
    if granularity == "channel":
        assert [f.macs for f in figures] == sorted({f.macs for f in figures}, reverse=True)
        assert [f.params for f in figures] == sorted({f.params for f in figures}, reverse=True)
        assert figures[0].macs < report.macs
    else:
        assert [f.nonzero_params for f in figures] == sorted(
            {f.nonzero_params for f in figures}, reverse=True
        )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())

    folder = save_bundle(pruned, policy, tmp_path / "bundle", source={"zoo": name}, onnx=False)
    _, kwargs = MODELS[name]
    restored = load_bundle(folder, lambda: zoo.build(name, num_classes=10, **kwargs))
    assert torch.allclose(restored(x), pruned.eval()(x), atol=1e-5)


@pytest.mark.skipif(not onnx_available(), reason="the export extra is not installed")
@pytest.mark.parametrize("granularity", ["channel", "unstructured"])
def test_onnx_parity(
    case: tuple[str, nn.Module, torch.Tensor], granularity: str, tmp_path: Path
) -> None:
    # The criterion does not change what is exported, so one per model and granularity.
    _, model, x = case
    policy = Policy.uniform(analyze(model, x), 0.5, criterion="l1", granularity=granularity)
    pruned = apply_policy(model, policy, x)
    folder = save_bundle(pruned, policy, tmp_path / "b", onnx=True)
    assert (folder / "model.onnx").stat().st_size > 0
