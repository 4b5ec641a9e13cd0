from __future__ import annotations

import pytest
import torch

from pruning import Policy, PolicyError, analyze
from pruning.policy import CRITERIA, kept_channels
from tests.pruning.models import BranchyNet, HardcodedAudioNet


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return analyze(BranchyNet(), torch.randn(1, 3, 8, 8))


def test_uniform_names_every_prunable_layer(report) -> None:  # type: ignore[no-untyped-def]
    policy = Policy.uniform(report, 0.5, criterion="l1", round_to=4)
    assert dict(policy.ratios) == dict.fromkeys(report.layer_names, 0.5)
    assert (policy.criterion, policy.granularity, policy.round_to) == ("l1", "channel", 4)


@pytest.mark.parametrize("ratio", [-0.1, 1.0, 1.5, float("nan")])
def test_ratio_out_of_range_is_refused(ratio: float) -> None:
    with pytest.raises(PolicyError, match=r"\[0, 1\)"):
        Policy(ratios={"stem": ratio})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ratios": {"stem": "half"}}, "must be a number"),
        ({"ratios": {"stem": True}}, "must be a number"),
        ({"ratios": ["stem"]}, "mapping"),
        ({"criterion": "l3"}, "criterion 'l3'"),
        ({"granularity": "block"}, "granularity"),
        ({"round_to": 0}, "round_to"),
        ({"criterion": "fpgm", "granularity": "unstructured"}, "not available"),
        ({"criterion": "bn_scale", "granularity": "unstructured"}, "not available"),
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(PolicyError, match=match):
        Policy(**kwargs)  # type: ignore[arg-type]


def test_unknown_layer_names_the_layer_and_suggests(report) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicyError, match=r"unknown layer 'stemm'.*did you mean 'stem'"):
        Policy(ratios={"stemm": 0.5}).validate(report)


def test_excluded_layer_says_why(report) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicyError, match="'fc' cannot be pruned: produces the model output"):
        Policy(ratios={"fc": 0.5}).validate(report)


def test_coupled_layers_must_share_a_ratio(report) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PolicyError, match="coupled"):
        Policy(ratios={"stem": 0.5, "mix": 0.25}).validate(report)
    group = report.group_of("stem")
    assert Policy(ratios={"stem": 0.5, "mix": 0.5}).validate(report) == {group.id: 0.5}
    # Naming one member of a group prunes the group.
    assert Policy(ratios={"mix": 0.25}).validate(report) == {group.id: 0.25}


def test_unstructured_layers_of_one_group_may_differ(report) -> None:  # type: ignore[no-untyped-def]
    policy = Policy(ratios={"stem": 0.5, "mix": 0.25}, granularity="unstructured", criterion="l1")
    assert policy.validate(report)


@pytest.mark.parametrize("criterion", CRITERIA)
def test_json_round_trip(criterion: str) -> None:
    policy = Policy(ratios={"a.b": 0.25, "c": 0.0}, criterion=criterion, round_to=8)
    restored = Policy.from_json(policy.to_json())
    assert restored == policy
    assert hash(restored) == hash(policy)


def test_from_json_refuses_unknown_fields_and_garbage() -> None:
    with pytest.raises(PolicyError, match="unknown policy field"):
        Policy.from_dict({"ratios": {}, "ratio": 0.5})
    with pytest.raises(PolicyError, match="not valid JSON"):
        Policy.from_json("{nope")
    with pytest.raises(PolicyError, match="JSON object"):
        Policy.from_json("[1, 2]")


def test_policy_is_immutable() -> None:
    policy = Policy(ratios={"a": 0.5})
    with pytest.raises(TypeError):
        policy.ratios["a"] = 0.9  # type: ignore[index]


@pytest.mark.parametrize(
    ("channels", "ratio", "round_to", "kept"),
    [
        (64, 0.5, 1, 32),
        (64, 0.0, 1, 64),
        (64, 0.99, 1, 1),
        (64, 0.6, 8, 24),
        (64, 0.99, 8, 8),
        (6, 0.5, 8, 6),
        (30, 0.5, 8, 16),
    ],
)
def test_kept_channels(channels: int, ratio: float, round_to: int, kept: int) -> None:
    assert kept_channels(channels, ratio, round_to) == kept


def test_excluded_hardcoded_layer_is_refused_with_reason() -> None:
    report = analyze(HardcodedAudioNet(), torch.randn(2, 1, 64))
    with pytest.raises(PolicyError, match="'conv2' cannot be pruned: the forward pass breaks"):
        Policy(ratios={"conv2": 0.5}).validate(report)
