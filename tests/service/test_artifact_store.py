"""The artifact store (ids, atomic writes, size limit), display names and upload checks."""

from __future__ import annotations

import hashlib
import io
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from service.artifacts import (
    ArtifactStore,
    check_data,
    check_weights,
    sanitize_filename,
)
from service.exceptions import ArtifactError, NotFound, UploadTooLarge


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


# -- the store ------------------------------------------------------------------------------


def test_round_trip_by_id_with_sha256_and_size(store: ArtifactStore) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    stored = store.save_stream(io.BytesIO(payload), max_bytes=len(payload))
    assert re.fullmatch(r"[0-9a-f]{32}", stored.id)
    assert stored.sha256 == hashlib.sha256(payload).hexdigest()
    assert stored.size == len(payload)
    assert stored.relpath == f"{stored.id[:2]}/{stored.id}"
    assert store.path(stored.id) == store.root / stored.relpath
    with store.open(stored.id) as handle:
        assert handle.read() == payload
    assert _files(store.root) == [store.root / stored.relpath]  # no temp file left


def test_chunks_are_accepted_and_every_save_gets_a_new_id(store: ArtifactStore) -> None:
    first = store.save_stream([b"ab", b"", b"cd"], max_bytes=4)
    second = store.save_stream(iter([b"abcd"]), max_bytes=4)
    assert first.sha256 == second.sha256 == hashlib.sha256(b"abcd").hexdigest()
    assert first.id != second.id


def test_an_upload_over_the_limit_leaves_nothing(store: ArtifactStore) -> None:
    with pytest.raises(UploadTooLarge, match="size limit of 1 MiB"):
        store.save_stream(io.BytesIO(b"x" * (1024 * 1024 + 1)), max_bytes=1024 * 1024)
    assert _files(store.root) == []


def test_a_failing_source_leaves_nothing(store: ArtifactStore) -> None:
    def broken() -> Iterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.save_stream(broken(), max_bytes=100)
    assert _files(store.root) == []


def test_an_uncommitted_writer_is_discarded(store: ArtifactStore) -> None:
    with store.writer(max_bytes=10) as writer:
        writer.write(b"12345")
    assert _files(store.root) == []
    with store.writer(max_bytes=10) as writer:
        writer.write(b"12345")
        stored = writer.commit()
    assert store.path(stored.id).read_bytes() == b"12345"


@pytest.mark.parametrize(
    "bad_id", ["../../etc/passwd", "/etc/passwd", "", "A" * 32, "0" * 31, "0" * 32 + "/x"]
)
def test_only_ids_of_our_making_address_files(store: ArtifactStore, bad_id: str) -> None:
    with pytest.raises(NotFound):
        store.path(bad_id)
    assert store.delete(bad_id) is False


def test_delete_is_idempotent(store: ArtifactStore) -> None:
    stored = store.save_stream([b"data"], max_bytes=10)
    assert store.delete(stored.id) is True
    assert store.delete(stored.id) is False
    with pytest.raises(NotFound):
        store.open(stored.id)


def test_stale_temp_files_are_swept(store: ArtifactStore) -> None:
    stale = store.root / ".tmp" / "upload-crashed"
    stale.write_bytes(b"half")
    old = time.time() - 2 * 86400
    os.utime(stale, (old, old))
    fresh = store.writer(max_bytes=10)  # an upload in progress must survive
    assert store.remove_stale_temp() == 1
    assert not stale.exists()
    fresh.write(b"ok")
    assert store.path(fresh.commit().id).read_bytes() == b"ok"


# -- display names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("model.safetensors", "model.safetensors"),
        ("  weights.pt ", "weights.pt"),
        ("modèle v2.npz", "modèle v2.npz"),
        (".hidden", ".hidden"),
        ("a..b.pt", "a..b.pt"),
    ],
)
def test_plain_names_are_kept(name: str, expected: str) -> None:
    assert sanitize_filename(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "dir/model.pt",
        "..\\..\\windows\\system32",
        "C:\\Users\\x\\model.pt",
        "C:model.pt",
        "..",
        ".",
        "",
        "   ",
        "model\x00.pt",
        "model\n.pt",
        "gnp.\u202eexe",  # right-to-left override: spoofs the extension
        "x" * 256,
    ],
)
def test_path_like_and_odd_names_are_refused(name: str) -> None:
    with pytest.raises(ArtifactError, match="file name"):
        sanitize_filename(name)


# -- weights ---------------------------------------------------------------------------------


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def test_safetensors_weights_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "w"
    save_file(dict(_net().state_dict()), str(path))
    info = check_weights(path)
    assert (info.format, info.tensors, info.elements) == ("safetensors", 4, 4 * 3 + 3 + 3 * 2 + 2)


def test_a_plain_state_dict_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "w"
    torch.save(_net().state_dict(), path)
    info = check_weights(path)
    assert (info.format, info.tensors) == ("state_dict", 4)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_a_pickled_module_is_refused_unless_the_operator_allows_it(
    tmp_path: Path, legacy: bool
) -> None:
    path = tmp_path / "w"
    torch.save(_net(), path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(ArtifactError, match=r"net\.pt is a pickled Python object .*Sequential"):
        check_weights(path, name="net.pt")
    info = check_weights(path, allow_pickle=True)
    assert (info.format, info.tensors) == ("pickle", 4)


def test_corrupt_safetensors_are_refused_with_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "w"
    save_file(dict(_net().state_dict()), str(path))
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(ArtifactError, match=r"w\.safetensors is a corrupt safetensors file: .*"):
        check_weights(path, name="w.safetensors")
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(ArtifactError, match=r"corrupt safetensors file: .*header"):
        check_weights(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some text, not tensors", "neither a safetensors file nor a readable torch"),
        (b"", "neither a safetensors file nor a readable torch"),
        (b"PK\x03\x04 a truncated zip", "neither a safetensors file nor a readable torch"),
    ],
)
def test_other_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "w"
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match=message):
        check_weights(path)


def test_torch_files_that_are_not_state_dicts_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "w"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(ArtifactError, match="holds a list, not a state dict"):
        check_weights(path)
    torch.save({}, path)
    with pytest.raises(ArtifactError, match="holds no tensors"):
        check_weights(path)


# -- data ------------------------------------------------------------------------------------


def _dataset() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.normal(size=(40, 1, 4, 4)).astype(np.float32),
        "y_train": np.arange(40) % 3,
    }


def test_npz_and_safetensors_data_are_accepted(tmp_path: Path) -> None:
    npz = tmp_path / "d.npz"
    arrays = _dataset()
    np.savez(npz, x_train=arrays["x_train"], y_train=arrays["y_train"])
    info = check_data(npz)
    assert (info.format, info.samples, info.input_shape, info.num_classes) == (
        "npz",
        40,
        (1, 4, 4),
        3,
    )
    st = tmp_path / "d"
    save_file({k: torch.from_numpy(v) for k, v in _dataset().items()}, str(st))
    assert check_data(st).format == "safetensors"


def test_object_arrays_are_refused_without_unpickling(tmp_path: Path) -> None:
    path = tmp_path / "0123abcd"
    arrays = _dataset()
    np.savez(path.with_suffix(".npz"), x_train=arrays["x_train"], y_train=np.array([{}] * 40))
    with pytest.raises(ArtifactError, match="y_train is an object array"):
        check_data(path.with_suffix(".npz"), name="mine.npz")


def test_missing_labels_are_named(tmp_path: Path) -> None:
    path = tmp_path / "0123abcd"
    with path.open("wb") as handle:
        np.savez(handle, x_train=_dataset()["x_train"])
    with pytest.raises(ArtifactError, match="y_train") as raised:
        check_data(path, name="mine.npz")
    assert "0123abcd" not in str(raised.value)  # the stored id is not the user's name
