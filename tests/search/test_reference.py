"""``Reference``: the unpruned model's figures and prunable layers, through JSON and back;
the trained reference's weights cached on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import safetensors.torch

import pruning._atomic as atomic_module
from search import Reference, prepare
from tests.search.conftest import tiny_spec


def test_reference_keeps_the_prunable_layers_through_json() -> None:
    prepared = prepare(tiny_spec(), train=False)
    reference = prepared.reference

    data = json.loads(json.dumps(reference.to_dict()))

    assert reference.layers == prepared.report.prunable
    assert data["layers"] == [
        {"name": layer.name, "kind": layer.kind, "out_channels": layer.out_channels,
         "group": layer.group}
        for layer in prepared.report.prunable
    ]  # fmt: skip
    assert Reference.from_dict(data) == reference


def test_a_reference_recorded_without_layers_still_reads() -> None:
    old = {
        "params": 100,
        "macs": 200,
        "latency_ms": None,
        "val_accuracy": 0.9,
        "test_accuracy": None,
        "pretrain_seconds": 1.5,
    }

    reference = Reference.from_dict(old)

    assert reference.layers == ()
    assert reference.to_dict() == {**old, "layers": []}


def test_the_trained_reference_is_cached_atomically_and_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real = os.fsync

    def fsync(descriptor: int) -> None:
        synced.append(descriptor)
        real(descriptor)

    monkeypatch.setattr(atomic_module.os, "fsync", fsync)  # type: ignore[attr-defined]
    cache = tmp_path / "weights" / "small_cnn.safetensors"

    prepare(tiny_spec(), reference_weights=cache)

    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary file left
    assert len(synced) == 2  # the file, then its folder
    assert safetensors.torch.load_file(str(cache))
