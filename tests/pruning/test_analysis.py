from __future__ import annotations

import pytest
import torch

from pruning import AnalysisError, Policy, analyze, apply_policy, zoo
from tests.pruning.models import (
    BranchyNet,
    CustomOpNet,
    DepthwiseNet,
    HardcodedAudioNet,
    Untraceable,
)


def test_output_layer_is_found_from_the_graph_not_module_order() -> None:
    model = BranchyNet()
    # ``fc`` is registered before nothing in particular; move it first to defeat module order.
    model._modules = {"fc": model._modules.pop("fc"), **model._modules}
    report = analyze(model, torch.randn(1, 3, 8, 8))
    assert "fc" not in report.layer_names
    assert "output" in (report.exclusion("fc") or "")


def test_residual_and_concat_couple_layers_into_groups() -> None:
    report = analyze(BranchyNet(), torch.randn(1, 3, 8, 8))
    residual = report.group_of("stem")
    assert residual is not None
    assert "mix" in residual
    # Concatenated branches keep their own groups: Torch-Pruning maps their channel ranges.
    branch_a, branch_b = report.group_of("branch_a"), report.group_of("branch_b.2")
    assert branch_a is not None and branch_b is not None and branch_a != branch_b
    assert {layer.group for layer in report.prunable} == {g.id for g in report.groups}


def test_pruning_concat_branches_shrinks_their_consumer() -> None:
    model = BranchyNet()
    x = torch.randn(1, 3, 8, 8)
    pruned = apply_policy(model, Policy(ratios={"branch_a": 0.5, "branch_b.2": 0.25}), x)
    assert pruned.bn.num_features == 6 + 9
    assert pruned.mix.in_channels == 15


def test_depthwise_conv_joins_the_group_of_its_producer() -> None:
    report = analyze(DepthwiseNet(), torch.randn(1, 3, 16, 16))
    stem = report.group_of("stem")
    assert stem is not None and "blocks.0.0" in stem
    layer = report.layer("blocks.0.0")
    assert layer is not None and layer.kind == "depthwise_conv2d"
    assert report.layer("stem") is not None and report.layer("stem").kind == "conv2d"  # type: ignore[union-attr]


def test_hardcoded_reshape_excludes_the_layers_involved() -> None:
    report = analyze(HardcodedAudioNet(), torch.randn(2, 1, 64))
    assert "conv1" in report.layer_names
    assert "fc1" in report.layer_names
    reason = report.exclusion("conv2")
    assert reason is not None and "hard-coded" in reason
    assert report.exclusion("fc2") is not None


def test_unsupported_layer_is_reported_and_its_group_left_alone() -> None:
    report = analyze(CustomOpNet(), torch.randn(1, 3, 8, 8))
    assert "unsupported" in (report.exclusion("mixer") or "")
    assert "conv" not in report.layer_names


def test_untraceable_model_raises_analysis_error() -> None:
    with pytest.raises(AnalysisError, match=r"cannot trace|fails"):
        analyze(Untraceable(), torch.randn(1, 3, 8, 8))


def test_wrong_example_inputs_raise_analysis_error() -> None:
    with pytest.raises(AnalysisError, match="fails on example inputs"):
        analyze(BranchyNet(), torch.randn(1, 5, 8, 8))
    with pytest.raises(AnalysisError, match="tensor"):
        analyze(BranchyNet(), "not a tensor")  # type: ignore[arg-type]


def test_analysis_leaves_the_model_untouched() -> None:
    model = zoo.build("resnet20", num_classes=10, in_channels=3)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    analyze(model, torch.randn(2, 3, 16, 16))
    assert model.training
    assert all(m.training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_report_records_shapes_and_reference_figures() -> None:
    report = analyze(BranchyNet(num_classes=7), torch.randn(1, 3, 8, 8))
    assert report.input_shapes == ((1, 3, 8, 8),)
    assert report.output_shapes == ((1, 7),)
    assert report.params == sum(p.numel() for p in BranchyNet(num_classes=7).parameters())
    assert report.macs > 0
    data = report.to_dict()
    assert data["output_shapes"] == [[1, 7]]
