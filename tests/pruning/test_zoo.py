"""Behaviour of the built-in architectures in :mod:`pruning.zoo`."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch_pruning as tp
from torch import nn

from pruning import zoo
from pruning.exceptions import ZooError

NAMES = ("mlp", "mobilenet_v2", "resnet20", "small_cnn")

# (in_channels, num_classes, input side)
COMBOS = [(1, 10, 28), (3, 7, 32), (1, 2, 8), (2, 3, 13)]


def _build(name: str, seed: int = 0, **kwargs: Any) -> nn.Module:
    torch.manual_seed(seed)
    return zoo.build(name, **kwargs)


def test_names_lists_the_four_builtins() -> None:
    assert zoo.names() == NAMES
    assert set(zoo.__all__) == {"build", "names", "small_cnn", "resnet20", "mobilenet_v2", "mlp"}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("in_channels", "num_classes", "side"), COMBOS)
def test_output_shape(name: str, in_channels: int, num_classes: int, side: int) -> None:
    model = _build(name, num_classes=num_classes, in_channels=in_channels)
    x = torch.randn(4, in_channels, side, side)
    assert model(x).shape == (4, num_classes)  # train mode
    model.eval()
    with torch.no_grad():
        assert model(x[:1]).shape == (1, num_classes)  # any batch size, including 1


@pytest.mark.parametrize("name", NAMES)
def test_rectangular_input(name: str) -> None:
    model = _build(name, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, 8, 20)).shape == (2, 10)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_gets_a_gradient(name: str) -> None:
    model = _build(name, in_channels=1, num_classes=4)
    loss = nn.functional.cross_entropy(model(torch.randn(3, 1, 8, 8)), torch.tensor([0, 1, 3]))
    torch.autograd.backward(loss)
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


@pytest.mark.parametrize("name", NAMES)
def test_init_is_deterministic_given_the_seed(name: str) -> None:
    first = _build(name, seed=3).state_dict()
    again = _build(name, seed=3).state_dict()
    other = _build(name, seed=4).state_dict()
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)


@pytest.mark.parametrize("name", NAMES)
def test_builder_function_matches_build(name: str) -> None:
    torch.manual_seed(0)
    direct = getattr(zoo, name)(num_classes=5, in_channels=1).state_dict()
    via_build = _build(name, num_classes=5, in_channels=1).state_dict()
    assert all(torch.equal(direct[k], via_build[k]) for k in via_build)


@pytest.mark.parametrize("name", NAMES)
def test_torch_pruning_can_prune_every_model(name: str) -> None:
    # The zoo exists to be pruned: the dependency graph must see every coupling, so a
    # 50% channel prune keeps the forward pass and the output shape intact.
    model = _build(name, in_channels=1, num_classes=6).eval()
    x = torch.randn(2, 1, 28, 28)
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    before = sum(p.numel() for p in model.parameters())
    pruner = tp.pruner.MagnitudePruner(
        model,
        x,
        importance=tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=0.5,
        ignored_layers=[head],
    )
    pruner.step()
    assert sum(p.numel() for p in model.parameters()) < 0.6 * before
    with torch.no_grad():
        assert model(x).shape == (2, 6)
        assert model(torch.randn(2, 1, 8, 8)).shape == (2, 6)


def test_resnet20_layout() -> None:
    model = _build("resnet20")
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    projections = [c for c in convs if c.kernel_size == (1, 1)]
    assert len(convs) - len(projections) == 19  # 1 stem + 9 blocks x 2; plus the linear: 20
    assert [(c.in_channels, c.out_channels, c.stride) for c in projections] == [
        (16, 32, (2, 2)),
        (32, 64, (2, 2)),
    ]
    fc = model.get_submodule("fc")
    assert isinstance(fc, nn.Linear)
    assert fc.in_features == 64
    narrow = _build("resnet20", width=8).get_submodule("fc")
    assert isinstance(narrow, nn.Linear)
    assert narrow.in_features == 32


def test_small_cnn_width_scales_channels() -> None:
    model = _build("small_cnn", width=8, in_channels=1)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32]
    # Policies are keyed by qualified module names, so those names are part of the contract.
    assert isinstance(model.get_submodule("features.3"), nn.Conv2d)
    assert isinstance(model.get_submodule("classifier"), nn.Linear)


def test_mobilenet_v2_layout() -> None:
    model = _build("mobilenet_v2", width_mult=0.35)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.out_channels % 8 == 0 for c in convs)
    assert convs[0].stride == (1, 1)
    assert sum(c.stride == (2, 2) for c in convs) == 3
    assert any(c.groups > 1 and c.groups == c.in_channels for c in convs)  # depthwise
    assert any(isinstance(m, nn.ReLU6) for m in model.modules())
    dropout = _build("mobilenet_v2", dropout=0.5).get_submodule("classifier.0")
    assert isinstance(dropout, nn.Dropout)
    assert dropout.p == 0.5


def test_mlp_options() -> None:
    model = _build("mlp", in_channels=1, image_size=8, hidden=[32, 16, 8], batch_norm=False)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (64, 32),
        (32, 16),
        (16, 8),
        (8, 10),
    ]
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    assert sum(isinstance(m, nn.BatchNorm1d) for m in _build("mlp").modules()) == 2


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(ZooError, match="vgg16") as excinfo:
        zoo.build("vgg16")
    assert all(name in str(excinfo.value) for name in NAMES)
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    ("name", "kwargs", "argument"),
    [
        ("small_cnn", {"depth": 3}, "depth"),
        ("resnet20", {"width_mult": 0.5}, "width_mult"),
        ("mlp", {"width": 4}, "width"),
        ("small_cnn", {"num_classes": 0}, "num_classes"),
        ("resnet20", {"num_classes": -2}, "num_classes"),
        ("mlp", {"in_channels": 0}, "in_channels"),
        ("mobilenet_v2", {"in_channels": 1.5}, "in_channels"),
        ("small_cnn", {"num_classes": True}, "num_classes"),
        ("mobilenet_v2", {"width_mult": 0}, "width_mult"),
        ("mobilenet_v2", {"width_mult": -1.0}, "width_mult"),
        ("mobilenet_v2", {"width_mult": float("nan")}, "width_mult"),
        ("mobilenet_v2", {"dropout": 1.0}, "dropout"),
        ("small_cnn", {"width": 0}, "width"),
        ("resnet20", {"width": "16"}, "width"),
        ("mlp", {"hidden": ()}, "hidden"),
        ("mlp", {"hidden": (64, 0)}, "hidden"),
        ("mlp", {"image_size": 0}, "image_size"),
        ("mlp", {"batch_norm": 1}, "batch_norm"),
    ],
)
def test_bad_arguments_name_the_argument(name: str, kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(ZooError, match=argument):
        zoo.build(name, **kwargs)
