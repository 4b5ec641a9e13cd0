from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pruning import (
    BundleError,
    Policy,
    analyze,
    apply_policy,
    load_bundle,
    onnx_available,
    save_bundle,
)
from tests.pruning.models import BranchyNet, HardcodedAudioNet


def _pruned(tmp_path: Path) -> tuple[torch.nn.Module, Policy, torch.Tensor, Path]:
    torch.manual_seed(0)
    model = BranchyNet()
    x = torch.randn(2, 3, 8, 8)
    policy = Policy.uniform(analyze(model, x), 0.5)
    pruned = apply_policy(model, policy, x)
    folder = save_bundle(
        pruned, policy, tmp_path / "bundle", source={"test": "branchy"}, onnx=False
    )
    return pruned, policy, x, folder


def test_round_trip_reproduces_outputs(tmp_path: Path) -> None:
    pruned, _, x, folder = _pruned(tmp_path)
    restored = load_bundle(folder, BranchyNet)
    assert torch.allclose(restored(x), pruned.eval()(x), atol=1e-5)
    assert sorted(p.name for p in folder.iterdir()) == [
        "model.safetensors",
        "policy.json",
        "report.json",
    ]


def test_policy_json_carries_what_the_issue_asks(tmp_path: Path) -> None:
    _, policy, _, folder = _pruned(tmp_path)
    document = json.loads((folder / "policy.json").read_text())
    assert Policy.from_dict(document["policy"]) == policy
    assert document["channels"]["mix"] == {"before": 24, "after": 12}
    assert document["input_shapes"] == [[2, 3, 8, 8]]
    assert document["source"] == {"test": "branchy"}
    report = json.loads((folder / "report.json").read_text())
    assert report["after"]["macs"] < report["before"]["macs"]
    assert report["after"]["params"] < report["before"]["params"]


def test_bundle_of_partly_excluded_model(tmp_path: Path) -> None:
    model = HardcodedAudioNet()
    x = torch.randn(2, 1, 64)
    policy = Policy.uniform(analyze(model, x), 0.5)
    pruned = apply_policy(model, policy, x)
    folder = save_bundle(pruned, policy, tmp_path / "b", onnx=False)
    assert torch.allclose(load_bundle(folder, HardcodedAudioNet)(x), pruned.eval()(x), atol=1e-5)


@pytest.mark.skipif(not onnx_available(), reason="the export extra is not installed")
def test_onnx_export_matches_pytorch(tmp_path: Path) -> None:
    import onnxruntime

    pruned, policy, _, _ = _pruned(tmp_path)
    folder = save_bundle(pruned, policy, tmp_path / "onnx", onnx=True)
    report = json.loads((folder / "report.json").read_text())
    assert report["onnx"]["max_abs_error"] < 1e-4
    session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
    batch = torch.randn(5, 3, 8, 8)
    (got,) = session.run(None, {session.get_inputs()[0].name: batch.numpy()})
    assert torch.allclose(torch.from_numpy(got), pruned.eval()(batch), atol=1e-4)


def test_corrupt_weights_raise_bundle_error(tmp_path: Path) -> None:
    _, _, _, folder = _pruned(tmp_path)
    (folder / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(BundleError, match="corrupt"):
        load_bundle(folder, BranchyNet)


def test_corrupt_policy_raises_bundle_error(tmp_path: Path) -> None:
    _, _, _, folder = _pruned(tmp_path)
    (folder / "policy.json").write_text("{not json")
    with pytest.raises(BundleError, match="corrupt"):
        load_bundle(folder, BranchyNet)
    (folder / "policy.json").write_text(json.dumps({"format": "prunesearch-bundle/1"}))
    with pytest.raises(BundleError, match="malformed"):
        load_bundle(folder, BranchyNet)


def test_missing_files_raise_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"policy\.json is missing"):
        load_bundle(tmp_path, BranchyNet)
    _, _, _, folder = _pruned(tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(BundleError, match=r"model\.safetensors is missing"):
        load_bundle(folder, BranchyNet)


def test_wrong_architecture_raises_bundle_error(tmp_path: Path) -> None:
    _, _, _, folder = _pruned(tmp_path)
    with pytest.raises(BundleError, match="architecture"):
        load_bundle(folder, lambda: BranchyNet(num_classes=3))
    with pytest.raises(BundleError, match="architecture"):
        load_bundle(folder, HardcodedAudioNet)


def test_model_without_record_needs_example_inputs(tmp_path: Path) -> None:
    model = BranchyNet()
    with pytest.raises(BundleError, match="example_inputs"):
        save_bundle(model, Policy(), tmp_path / "x", onnx=False)
    x = torch.randn(1, 3, 8, 8)
    folder = save_bundle(model, Policy(), tmp_path / "x", example_inputs=x, onnx=False)
    assert torch.allclose(load_bundle(folder, BranchyNet)(x), model.eval()(x), atol=1e-6)


def test_bundle_files_are_written_atomically(tmp_path: Path) -> None:
    _, _, _, folder = _pruned(tmp_path)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
