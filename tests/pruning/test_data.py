"""Behaviour of the datasets in :mod:`pruning.data`."""

from __future__ import annotations

import gzip
import io
import math
import pickle
import struct
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sklearn.datasets import load_digits

from pruning import data
from pruning.data import BUILTIN_DATASETS, DataSplits, load_builtin, load_tensors
from pruning.exceptions import DataError

FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
}


def _splits_equal(a: DataSplits, b: DataSplits) -> bool:
    pairs = [(a.train, b.train), (a.val, b.val)]
    if a.test is not None and b.test is not None:
        pairs.append((a.test, b.test))
    return all(torch.equal(s.tensors[i], t.tensors[i]) for s, t in pairs for i in range(2))


def test_public_surface() -> None:
    assert set(data.__all__) == {"BUILTIN_DATASETS", "DataSplits", "load_builtin", "load_tensors"}
    assert BUILTIN_DATASETS == ("digits", "fashion-mnist")


# --- digits -----------------------------------------------------------------------------


def test_digits_shapes_and_dtypes() -> None:
    splits = load_builtin("digits")
    assert splits.name == "digits"
    assert splits.num_classes == 10
    assert splits.input_shape == (1, 8, 8)
    assert splits.test is not None
    assert (len(splits.train), len(splits.val), len(splits.test)) == (1294, 144, 359)
    for split in (splits.train, splits.val, splits.test):
        x, y = split.tensors
        assert x.dtype == torch.float32
        assert x.shape[1:] == (1, 8, 8)
        assert y.dtype == torch.int64
        assert int(y.min()) >= 0
        assert int(y.max()) < 10
    x_train = splits.train.tensors[0]
    assert float(x_train.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(x_train.std()) == pytest.approx(1.0, abs=1e-4)


def _digit_rows(splits: DataSplits) -> list[Counter[tuple[bytes, int]]]:
    """Each split as a multiset of (raw 0..16 pixels, label), undoing the standardization.

    Pixel 0 and pixel 16 both occur in every digits split, so min and max recover the map.
    """
    assert splits.test is not None
    all_x = torch.cat([s.tensors[0] for s in (splits.train, splits.val, splits.test)])
    low, high = float(all_x.min()), float(all_x.max())
    counters = []
    for split in (splits.train, splits.val, splits.test):
        x, y = split.tensors
        raw = torch.round((x - low) / (high - low) * 16).to(torch.uint8).flatten(1).numpy()
        counters.append(Counter(zip((r.tobytes() for r in raw), y.tolist(), strict=True)))
    return counters


def test_digits_splits_are_a_disjoint_partition() -> None:
    train, val, test = _digit_rows(load_builtin("digits", seed=5))
    bunch = load_digits()
    everything = Counter(
        zip(
            (r.tobytes() for r in bunch.data.astype(np.uint8)),
            bunch.target.tolist(),
            strict=True,
        )
    )
    # Multisets, so duplicate images are counted: every sample lands in exactly one split.
    assert train + val + test == everything


def test_digits_split_depends_only_on_the_seed() -> None:
    torch.manual_seed(123)  # the split must not read the global RNG
    first = load_builtin("digits", seed=7)
    torch.manual_seed(456)
    again = load_builtin("digits", seed=7)
    other = load_builtin("digits", seed=8)
    assert _splits_equal(first, again)
    assert not _splits_equal(first, other)


def test_digits_val_fraction_and_train_subset() -> None:
    none = load_builtin("digits", val_fraction=0.0)
    assert len(none.val) == 0
    assert none.val.tensors[0].shape == (0, 1, 8, 8)
    half = load_builtin("digits", val_fraction=0.5)
    assert len(half.val) == 719
    small = load_builtin("digits", train_subset=100)
    full = load_builtin("digits")
    assert len(small.train) == 100
    assert torch.equal(small.train.tensors[1], full.train.tensors[1][:100])
    assert torch.equal(small.val.tensors[1], full.val.tensors[1])
    assert len(load_builtin("digits", train_subset=10**6).train) == len(full.train)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"val_fraction": 0.95}, "val_fraction"),
        ({"val_fraction": math.nan}, "val_fraction"),
        ({"val_fraction": "0.1"}, "val_fraction"),
        ({"train_subset": 0}, "train_subset"),
        ({"train_subset": -3}, "train_subset"),
        ({"train_subset": 2.5}, "train_subset"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.0}, "seed"),
    ],
)
def test_bad_builtin_arguments_name_the_argument(kwargs: dict[str, Any], argument: str) -> None:
    with pytest.raises(DataError, match=argument):
        load_builtin("digits", **kwargs)


def test_unknown_builtin_lists_the_known_names() -> None:
    with pytest.raises(DataError, match="cifar10") as excinfo:
        load_builtin("cifar10")
    assert "digits" in str(excinfo.value)
    assert "fashion-mnist" in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


# --- fashion-mnist ----------------------------------------------------------------------


@pytest.mark.skipif(
    not all((FASHION_ROOT / f).is_file() for f in FASHION_FILES),
    reason="Debian package dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_loads_with_train_subset() -> None:
    splits = load_builtin("fashion-mnist", train_subset=500, val_fraction=0.1, seed=1)
    assert splits.name == "fashion-mnist"
    assert splits.num_classes == 10
    assert splits.input_shape == (1, 28, 28)
    assert splits.test is not None
    assert (len(splits.train), len(splits.val), len(splits.test)) == (500, 6000, 10000)
    x, y = splits.train.tensors
    assert x.shape == (500, 1, 28, 28)
    assert x.dtype == torch.float32
    assert y.dtype == torch.int64
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-4)
    assert torch.equal(splits.test.tensors[1].bincount(), torch.full((10,), 1000))
    again = load_builtin("fashion-mnist", train_subset=500, val_fraction=0.1, seed=1)
    assert _splits_equal(splits, again)


def test_fashion_mnist_missing_root_names_package_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError) as excinfo:
        load_builtin("fashion-mnist", root=tmp_path)
    message = str(excinfo.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path) in message


def _write_idx(path: Path, array: np.ndarray, *, header: bytes | None = None) -> None:
    if header is None:
        dims = struct.pack(f">{array.ndim}I", *array.shape)
        header = bytes([0, 0, 0x08, array.ndim]) + dims
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


def _fake_fashion(root: Path, *, n_train: int = 50, n_test: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(n_train, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    for name, array in arrays.items():
        _write_idx(root / name, array)
    return arrays


def test_fashion_mnist_idx_parsing_from_root(tmp_path: Path) -> None:
    arrays = _fake_fashion(tmp_path)
    splits = load_builtin("fashion-mnist", root=str(tmp_path), val_fraction=0.2, train_subset=30)
    assert splits.test is not None
    assert (len(splits.train), len(splits.val), len(splits.test)) == (30, 10, 10)
    x_test, y_test = splits.test.tensors
    assert y_test.tolist() == arrays["t10k-labels-idx1-ubyte.gz"].tolist()
    # The official test set keeps its order; standardization is one increasing affine map.
    raw = torch.from_numpy(arrays["t10k-images-idx3-ubyte.gz"].astype(np.float32))
    rescaled = (x_test[:, 0] - x_test.min()) / (x_test.max() - x_test.min())
    assert torch.allclose(rescaled, (raw - raw.min()) / (raw.max() - raw.min()), atol=1e-5)
    seen = Counter(splits.train.tensors[1].tolist() + splits.val.tensors[1].tolist())
    assert seen <= Counter(arrays["train-labels-idx1-ubyte.gz"].tolist())


@pytest.mark.parametrize(
    ("corrupt", "problem"),
    [
        (lambda p: p.write_bytes(b"not gzip at all"), "cannot read"),
        (lambda p: _write_idx(p, np.zeros(3), header=b"\x01\x02\x08\x01" + b"\0\0\0\x03"), "magic"),
        (
            lambda p: _write_idx(p, np.zeros(3), header=b"\0\0\x08\x02" + b"\0\0\0\x05\0\0\0\x01"),
            "2-D",
        ),
        (lambda p: _write_idx(p, np.zeros(3), header=b"\0\0\x08\x01" + b"\0\0\0\x09"), "truncated"),
        (lambda p: _write_idx(p, np.zeros(7)), "do not match"),
    ],
)
def test_fashion_mnist_corrupt_files(
    tmp_path: Path, corrupt: Callable[[Path], None], problem: str
) -> None:
    _fake_fashion(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    corrupt(labels)
    with pytest.raises(DataError, match=problem) as excinfo:
        load_builtin("fashion-mnist", root=tmp_path)
    assert str(tmp_path) in str(excinfo.value)


# --- load_tensors -------------------------------------------------------------------------


def _arrays(n: int = 40, *, val: bool = False, test: bool = False) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    arrays = {
        "x_train": torch.randn(n, 2, 4, 4, generator=gen),
        "y_train": torch.arange(n) % 3,
    }
    if val:
        arrays |= {"x_val": torch.randn(6, 2, 4, 4, generator=gen), "y_val": torch.arange(6) % 3}
    if test:
        # Label 4 occurs only in test: num_classes counts every split.
        arrays |= {"x_test": torch.randn(5, 2, 4, 4, generator=gen), "y_test": torch.arange(5)}
    return arrays


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _write(path: Path, arrays: dict[str, Any]) -> Path:
    if path.suffix == ".npz":
        as_numpy: dict[str, Any] = {k: v.numpy() for k, v in arrays.items()}
        np.savez(path, **as_numpy)
    else:
        save_file({k: v.contiguous().clone() for k, v in arrays.items()}, str(path))
    return path


FORMATS = ["data.npz", "data.safetensors"]


@pytest.mark.parametrize("filename", FORMATS)
def test_load_tensors_round_trip(tmp_path: Path, filename: str) -> None:
    arrays = _arrays(val=True, test=True)
    splits = load_tensors(_write(tmp_path / filename, arrays))
    assert splits.name == "data"
    assert splits.num_classes == 5
    assert splits.input_shape == (2, 4, 4)
    assert splits.test is not None
    for split, dataset in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
        x, y = dataset.tensors
        assert torch.equal(x, arrays[f"x_{split}"])  # used as given: no normalization
        assert torch.equal(y, arrays[f"y_{split}"])
        assert x.dtype == torch.float32
        assert y.dtype == torch.int64


@pytest.mark.parametrize("filename", FORMATS)
def test_load_tensors_splits_val_off_train(tmp_path: Path, filename: str) -> None:
    arrays = _arrays(n=40)
    arrays["x_train"] = arrays["x_train"].double()
    arrays["y_train"] = arrays["y_train"].to(torch.uint8)
    path = _write(tmp_path / filename, arrays)
    splits = load_tensors(path, val_fraction=0.25, seed=3)
    assert splits.test is None
    assert (len(splits.train), len(splits.val)) == (30, 10)
    assert splits.num_classes == 3
    x = torch.cat([splits.train.tensors[0], splits.val.tensors[0]])
    # A partition of the original rows, in a seeded order.
    expected = arrays["x_train"].float().flatten(1).tolist()
    assert sorted(x.flatten(1).tolist()) == sorted(expected)
    assert _splits_equal(splits, load_tensors(path, val_fraction=0.25, seed=3))
    assert not _splits_equal(splits, load_tensors(path, val_fraction=0.25, seed=4))


def test_load_tensors_recognises_the_format_by_content(tmp_path: Path) -> None:
    npz = _write(tmp_path / "data.npz", _arrays())
    renamed = npz.rename(tmp_path / "3f2a9c")  # artifacts are stored by id, not by name
    assert len(load_tensors(renamed, val_fraction=0.0).train) == 40


def _drop(*keys: str) -> Callable[[dict[str, Any]], None]:
    def mutate(arrays: dict[str, Any]) -> None:
        for key in keys:
            del arrays[key]

    return mutate


def _set(key: str, value: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(arrays: dict[str, Any]) -> None:
        arrays[key] = value(arrays)

    return mutate


def _with_nan(key: str, value: float) -> Callable[[dict[str, Any]], Any]:
    def make(arrays: dict[str, Any]) -> torch.Tensor:
        x: torch.Tensor = arrays[key].clone()
        x[1, 0, 0, 0] = value
        return x

    return make


def _empty_train(arrays: dict[str, Any]) -> None:
    arrays["x_train"] = arrays["x_train"][:0]
    arrays["y_train"] = arrays["y_train"][:0]


def _one_class(arrays: dict[str, Any]) -> None:
    for key in ("x_val", "y_val", "x_test", "y_test"):
        del arrays[key]
    arrays["y_train"] = torch.zeros_like(arrays["y_train"])


BAD_CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("missing x_train", _drop("x_train"), "x_train"),
    ("missing y_train", _drop("y_train"), "y_train"),
    ("x_val without y_val", _drop("y_val"), "y_val"),
    ("y_test without x_test", _drop("x_test"), "x_test"),
    ("unexpected key", _set("X_train", lambda a: a["x_train"]), "X_train"),
    ("length mismatch", _set("y_train", lambda a: a["y_train"][:-1]), "y_train"),
    ("float labels", _set("y_test", lambda a: a["y_test"].float()), "y_test"),
    ("bool labels", _set("y_train", lambda a: a["y_train"] > 0), "y_train"),
    ("2-D labels", _set("y_train", lambda a: a["y_train"][:, None]), "y_train"),
    ("negative label", _set("y_val", lambda a: a["y_val"] - 1), "y_val"),
    ("huge label", _set("y_val", lambda a: a["y_val"] * 10**7), "y_val"),
    ("integer x", _set("x_train", lambda a: a["x_train"].to(torch.int32)), "x_train"),
    ("1-D x", _set("x_train", lambda a: a["x_train"][:, 0, 0, 0]), "x_train"),
    ("NaN", _set("x_train", _with_nan("x_train", math.nan)), "x_train"),
    ("inf", _set("x_val", _with_nan("x_val", math.inf)), "x_val"),
    ("shape mismatch", _set("x_test", lambda a: a["x_test"][:, :1]), "x_test"),
    ("empty", _empty_train, "x_train"),
    ("one class", _one_class, "y_train"),
]


@pytest.mark.parametrize("filename", FORMATS)
@pytest.mark.parametrize(("case", "mutate", "key"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_load_tensors_bad_content_names_the_key(
    tmp_path: Path,
    filename: str,
    case: str,
    mutate: Callable[[dict[str, Any]], None],
    key: str,
) -> None:
    arrays: dict[str, Any] = _arrays(val=True, test=True)
    mutate(arrays)
    path = _write(tmp_path / filename, arrays)
    with pytest.raises(DataError, match=key):
        load_tensors(path)


def test_load_tensors_bad_arguments(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.npz", _arrays())
    with pytest.raises(DataError, match="val_fraction"):
        load_tensors(path, val_fraction=1.0)
    with pytest.raises(DataError, match="seed"):
        load_tensors(path, seed=-2)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.write_text("x_train,y_train\n1,2\n"), "neither"),
        (lambda p: p.write_bytes(b""), "neither"),
        (lambda p: torch.save({"x_train": torch.zeros(2, 2)}, p), "not an .npz"),
        (lambda p: p.write_bytes(pickle.dumps({"x_train": [1.0]})), "neither"),
        (lambda p: p.write_bytes(_npy_bytes(np.zeros((2, 2)))), "neither"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 40), "corrupt"),
        (lambda p: p.write_bytes(b'\x40\0\0\0\0\0\0\0{"x_train": 1'), "corrupt"),
        (lambda p: p.mkdir(), "cannot open"),
        (lambda p: None, "cannot open"),
    ],
    ids=[
        "csv",
        "empty",
        "torch-zip",
        "pickle",
        "npy",
        "bad-zip",
        "bad-safetensors",
        "dir",
        "missing",
    ],
)
def test_load_tensors_wrong_or_corrupt_file(
    tmp_path: Path, make: Callable[[Path], None], problem: str
) -> None:
    path = tmp_path / "upload"
    make(path)
    with pytest.raises(DataError, match=problem):
        load_tensors(path)


def test_load_tensors_truncated_safetensors(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.safetensors", _arrays())
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="corrupt"):
        load_tensors(path)


UNPICKLED: list[str] = []


def _record_unpickling() -> str:
    UNPICKLED.append("unpickled")
    return "payload"


class _Payload:
    def __reduce__(self) -> tuple[Callable[[], str], tuple[()]]:
        return _record_unpickling, ()


def test_npz_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    labels = np.arange(4) % 2
    objects = np.array([_Payload() for _ in range(4)], dtype=object)
    path = tmp_path / "evil.npz"
    np.savez(path, x_train=objects, y_train=labels)
    with pytest.raises(DataError, match="x_train") as excinfo:
        load_tensors(path)
    assert "object" in str(excinfo.value)
    assert UNPICKLED == []
