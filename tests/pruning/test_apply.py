from __future__ import annotations

import pytest
import torch
from torch import nn

from pruning import Policy, PolicyError, analyze, apply_policy, measure, record_of, zoo
from tests.pruning.models import BranchyNet, DepthwiseNet, HardcodedAudioNet


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("model", "inputs"),
    [
        (BranchyNet(), torch.randn(2, 3, 8, 8)),
        (DepthwiseNet(), torch.randn(2, 3, 16, 16)),
        (HardcodedAudioNet(), torch.randn(2, 1, 64)),
    ],
    ids=["branchy", "depthwise-custom-conv", "audio-hardcoded-reshape"],
)
def test_user_models_prune_at_half(model: nn.Module, inputs: torch.Tensor) -> None:
    model.train()
    before = _state(model)
    report = analyze(model, inputs)
    pruned = apply_policy(model, Policy.uniform(report, 0.5), inputs)
    assert pruned is not model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training
    assert pruned.eval()(inputs).shape == model.eval()(inputs).shape
    assert measure(pruned, inputs).macs < report.macs


def test_round_to_gives_multiples() -> None:
    model = zoo.build("resnet20", num_classes=10, in_channels=3)
    x = torch.randn(1, 3, 16, 16)
    report = analyze(model, x)
    pruned = apply_policy(model, Policy.uniform(report, 0.4, round_to=8), x, report=report)
    for layer in report.prunable:
        module = dict(pruned.named_modules())[layer.name]
        assert isinstance(module, nn.Conv2d)
        assert module.out_channels % 8 == 0


def test_structured_pruning_removes_the_least_important_channels() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 1), nn.ReLU(), nn.Conv2d(4, 2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([1.0, 0.01, 3.0, 0.02]).view(4, 1, 1, 1))
    x = torch.randn(1, 1, 4, 4)
    pruned = apply_policy(model, Policy(ratios={"0": 0.5}, criterion="l1"), x)
    assert pruned[0].weight.flatten().tolist() == [1.0, 3.0]


def test_unstructured_zeroes_weights_permanently() -> None:
    model = DepthwiseNet()
    x = torch.randn(1, 3, 16, 16)
    report = analyze(model, x)
    policy = Policy.uniform(report, 0.6, granularity="unstructured", criterion="l1")
    pruned = apply_policy(model, policy, x, report=report)
    weight = dict(pruned.named_modules())["blocks.1.3"].weight
    assert abs(float((weight == 0).float().mean()) - 0.6) < 0.02
    assert not any(name.endswith("_orig") for name, _ in pruned.named_parameters())
    assert not any(name.endswith("_mask") for name, _ in pruned.named_buffers())
    assert measure(pruned, x).sparsity > 0.5


def test_taylor_needs_labelled_data() -> None:
    model = BranchyNet()
    x = torch.randn(4, 3, 8, 8)
    with pytest.raises(PolicyError, match="taylor"):
        apply_policy(model, Policy(ratios={"stem": 0.5}, criterion="taylor"), x)
    pruned = apply_policy(
        model,
        Policy(ratios={"stem": 0.5}, criterion="taylor"),
        x,
        data=(x, torch.tensor([0, 1, 2, 3])),
    )
    assert all(p.grad is None for p in pruned.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_random_criterion_is_seeded() -> None:
    model = BranchyNet()
    x = torch.randn(1, 3, 8, 8)
    policy = Policy(ratios={"stem": 0.5}, criterion="random")
    a = apply_policy(model, policy, x, seed=1)
    b = apply_policy(model, policy, x, seed=1)
    c = apply_policy(model, policy, x, seed=2)
    assert torch.equal(a.stem.weight, b.stem.weight)
    assert not torch.equal(a.stem.weight, c.stem.weight)


def test_training_mode_is_kept() -> None:
    model = BranchyNet().train()
    pruned = apply_policy(model, Policy(ratios={"stem": 0.5}), torch.randn(2, 3, 8, 8))
    assert pruned.training and model.training


def test_record_describes_the_pruning() -> None:
    model = BranchyNet()
    x = torch.randn(1, 3, 8, 8)
    pruned = apply_policy(model, Policy(ratios={"stem": 0.5}), x)
    record = record_of(pruned)
    assert record is not None
    assert record.kept == {"stem": 12}
    assert record.channels["mix"] == (24, 12)
    assert record.input_shapes == ((1, 3, 8, 8),)
    assert record_of(model) is None


def test_report_of_another_model_is_refused() -> None:
    x = torch.randn(1, 3, 8, 8)
    report = analyze(BranchyNet(), x)
    other = nn.Sequential()
    other.add_module("stem", nn.Conv2d(3, 5, 1))
    other.add_module("fc", nn.Conv2d(5, 2, 1))
    with pytest.raises(PolicyError, match="does not describe this model"):
        apply_policy(other, Policy(ratios={"stem": 0.5}), x, report=report)
