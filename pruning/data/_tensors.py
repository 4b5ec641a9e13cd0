"""Loading user-supplied tensors from ``.safetensors`` or ``.npz`` files, never unpickling."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch.utils.data import TensorDataset

from pruning.data._splits import (
    DataSplits,
    check_seed,
    check_val_fraction,
    held_out_count,
    permutation,
)
from pruning.exceptions import DataError

_SPLITS = ("train", "val", "test")
_KEYS = tuple(f"{kind}_{split}" for split in _SPLITS for kind in ("x", "y"))
# A label of 10**9 would make a billion-wide output layer; no real upload needs this many.
_MAX_CLASSES = 100_000
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip

_Array = np.ndarray | torch.Tensor


def load_tensors(
    path: str | os.PathLike[str], *, val_fraction: float = 0.1, seed: int = 0
) -> DataSplits:
    """Load a classification dataset from a ``.safetensors`` or ``.npz`` file.

    The file holds ``x_train`` and ``y_train`` and optionally ``x_val``/``y_val`` and
    ``x_test``/``y_test``, and nothing else. ``x_*`` are floating-point arrays
    ``[N, *sample_shape]`` (converted to float32, used as given: no normalization), ``y_*``
    1-D integer class labels (converted to int64). The format is recognised from the file's
    first bytes, not its name. ``.npz`` files are read with ``allow_pickle=False``, so object
    arrays are refused rather than unpickled.

    ``num_classes`` is the largest label over all splits plus one. Without ``x_val``, a
    ``val_fraction`` of the training samples, chosen with ``seed``, becomes val (at least
    one sample when positive); with it, ``val_fraction`` is ignored. ``name`` is the file stem.

    Raises:
        DataError: The file is missing, not safetensors or npz, or corrupt; a key is
            missing, unexpected or unpaired; an array has the wrong dtype or shape, splits
            disagree in length or sample shape, ``x`` holds NaN or inf, labels are negative
            or span fewer than two classes; or an argument is out of range. The message
            names the key and the problem.
    """
    val_fraction = check_val_fraction(val_fraction)
    seed = check_seed(seed)
    file = Path(path)
    arrays = _read(file)
    _check_keys(arrays)
    splits = {split: _pair(arrays, split) for split in _SPLITS if f"x_{split}" in arrays}
    _check_sample_shapes(splits)
    num_classes = _num_classes(splits)
    if "val" not in splits:
        splits["train"], splits["val"] = _split_val(*splits["train"], val_fraction, seed)
    test = splits.get("test")
    return DataSplits(
        train=TensorDataset(*splits["train"]),
        val=TensorDataset(*splits["val"]),
        test=None if test is None else TensorDataset(*test),
        num_classes=num_classes,
        input_shape=tuple(splits["train"][0].shape[1:]),
        name=file.stem,
    )


def _read(file: Path) -> dict[str, _Array]:
    try:
        with file.open("rb") as stream:
            head = stream.read(9)
    except OSError as exc:
        raise DataError(f"cannot open tensor file {file}: {exc}") from exc
    if head.startswith(_ZIP_MAGICS):
        return _read_npz(file)
    # safetensors: an 8-byte little-endian header length, then the JSON header.
    if len(head) == 9 and head[8:9] == b"{":
        return _read_safetensors(file)
    raise DataError(
        f"{file.name} is neither a .safetensors nor an .npz file (unrecognised file type); "
        "pickled tensors (.pt, .pth, .pkl) are not accepted"
    )


def _read_safetensors(file: Path) -> dict[str, _Array]:
    try:
        return dict(load_file(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise DataError(f"{file.name} is a corrupt safetensors file: {exc}") from exc


def _read_npz(file: Path) -> dict[str, _Array]:
    _check_npz_members(file)
    arrays: dict[str, _Array] = {}
    try:
        with np.load(file, allow_pickle=False) as npz:
            for key in npz.files:
                arrays[key] = _npz_member(npz, key)
    except DataError:  # a ValueError subclass: let it through unwrapped
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{file.name} is a corrupt .npz file: {exc}") from exc
    return arrays


def _check_npz_members(file: Path) -> None:
    # torch.save writes a zip too: refuse any zip whose members are not all .npy arrays.
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.namelist()
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{file.name} is a corrupt .npz file: {exc}") from exc
    foreign = [name for name in members if not name.endswith(".npy")]
    if foreign:
        raise DataError(
            f"{file.name} is a zip archive but not an .npz file (member {foreign[0]!r} is not "
            "a .npy array); pickled PyTorch files are not accepted"
        )


def _npz_member(npz: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    try:
        value = npz[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(
                f"{key} is an object array, which would need unpickling: refused"
            ) from exc
        raise
    # A member named *.npy without the .npy magic comes back as raw bytes, not an array.
    if not isinstance(value, np.ndarray):
        raise DataError(f"{key} is not a numpy array")
    return value


def _check_keys(arrays: dict[str, _Array]) -> None:
    unexpected = sorted(set(arrays) - set(_KEYS))
    if unexpected:
        raise DataError(f"unexpected key {unexpected[0]!r}; expected keys: {', '.join(_KEYS)}")
    for key in ("x_train", "y_train"):
        if key not in arrays:
            raise DataError(f"missing key {key!r}")
    for split in ("val", "test"):
        x_key, y_key = f"x_{split}", f"y_{split}"
        if (x_key in arrays) != (y_key in arrays):
            given, absent = (x_key, y_key) if x_key in arrays else (y_key, x_key)
            raise DataError(f"{given} is given without {absent}")


def _pair(arrays: dict[str, _Array], split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x_key, y_key = f"x_{split}", f"y_{split}"
    x = _features(x_key, arrays[x_key])
    y = _labels(y_key, arrays[y_key])
    if len(x) != len(y):
        raise DataError(f"{x_key} has {len(x)} samples but {y_key} has {len(y)}")
    if len(x) == 0:
        raise DataError(f"{x_key} is empty")
    return x, y


def _features(key: str, value: _Array) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        is_float = value.dtype.kind == "f"
        dtype_name = str(value.dtype)
    else:
        is_float = value.is_floating_point()
        dtype_name = str(value.dtype).removeprefix("torch.")
    if not is_float:
        raise DataError(f"{key} must be a floating-point array, got dtype {dtype_name}")
    if value.ndim < 2:
        raise DataError(f"{key} must have shape [N, ...] with at least 2 dims, got {value.shape}")
    if isinstance(value, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    else:
        tensor = value.to(torch.float32).contiguous()
    # Checked after the cast: a float64 value beyond float32's range becomes inf here.
    if not bool(torch.isfinite(tensor).all()):
        raise DataError(f"{key} contains NaN or infinite values")
    return tensor


def _labels(key: str, value: _Array) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        is_int = value.dtype.kind in "iu"
        dtype_name = str(value.dtype)
    else:
        is_int = not (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool)
        dtype_name = str(value.dtype).removeprefix("torch.")
    if not is_int:
        raise DataError(f"{key} must hold integer class labels, got dtype {dtype_name}")
    if value.ndim != 1:
        raise DataError(f"{key} must be 1-D [N], got shape {tuple(value.shape)}")
    if len(value) and (int(value.min()) < 0 or int(value.max()) >= _MAX_CLASSES):
        raise DataError(f"{key} has labels outside [0, {_MAX_CLASSES})")
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.astype(np.int64))
    return value.to(torch.int64).contiguous()


def _check_sample_shapes(splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    expected = tuple(splits["train"][0].shape[1:])
    for split, (x, _) in splits.items():
        if tuple(x.shape[1:]) != expected:
            raise DataError(
                f"x_{split} samples have shape {tuple(x.shape[1:])} but x_train samples "
                f"have shape {expected}"
            )


def _num_classes(splits: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> int:
    num_classes = max(int(y.max()) for _, y in splits.values()) + 1
    if num_classes < 2:
        raise DataError("y_train: labels must span at least 2 classes (all labels are 0)")
    return num_classes


def _split_val(
    x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    order = permutation(len(y), seed)
    n_val = held_out_count(len(order), fraction)
    val_idx, train_idx = order[:n_val], order[n_val:]
    return (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx])
