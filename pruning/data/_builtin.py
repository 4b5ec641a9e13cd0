"""The built-in datasets: scikit-learn's digits and the Debian package's Fashion-MNIST."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from pruning.data._idx import read_idx_gz
from pruning.data._splits import (
    DataSplits,
    check_seed,
    check_train_subset,
    check_val_fraction,
    held_out_count,
    permutation,
    standardize,
)
from pruning.exceptions import DataError

BUILTIN_DATASETS: tuple[str, ...] = ("digits", "fashion-mnist")

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
_FASHION_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
_DIGITS_TEST_FRACTION = 0.2
_NUM_CLASSES = 10  # both built-ins have ten classes


def load_builtin(
    name: str,
    *,
    train_subset: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    root: str | os.PathLike[str] | None = None,
) -> DataSplits:
    """Load a built-in dataset as standardized float32 images and int64 labels.

    ``digits`` (scikit-learn's 1797 8x8 images, bundled, offline): shuffled with ``seed``,
    20% becomes test, ``val_fraction`` of the rest val, the remainder train.
    ``fashion-mnist`` (28x28; the gzip IDX files of the Debian package
    ``dataset-fashion-mnist``, read from ``root`` or ``/usr/share/datasets/fashion-mnist``):
    the official 10 000 test images are test; ``val_fraction`` of the 60 000 training images,
    chosen with ``seed``, is val, the rest train. ``root`` is ignored for ``digits``.

    ``train_subset`` keeps at most that many training samples (a deterministic, seeded
    choice; val and test are unaffected). Pixels are scaled to [0, 1], then shifted and
    scaled by the training split's mean and std. The same arguments give the same splits.

    Raises:
        DataError: ``name`` is unknown (the message lists the built-ins), an argument is
            out of range (the message names it), or the Fashion-MNIST files are missing or
            corrupt (the message names the folder and the Debian package).
    """
    val_fraction = check_val_fraction(val_fraction)
    train_subset = check_train_subset(train_subset)
    seed = check_seed(seed)
    if name == "digits":
        images, labels = _digits_arrays()
        return _split_digits(images, labels, train_subset, val_fraction, seed)
    if name == "fashion-mnist":
        folder = FASHION_MNIST_ROOT if root is None else Path(root)
        return _load_fashion_mnist(folder, train_subset, val_fraction, seed)
    raise DataError(f"unknown built-in dataset {name!r}; known: {', '.join(BUILTIN_DATASETS)}")


def _digits_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    # Imported here: scikit-learn is slow to import and only this dataset needs it.
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.asarray(bunch.data, dtype=np.float32).reshape(-1, 1, 8, 8) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int64)
    return torch.from_numpy(pixels), torch.from_numpy(labels)


def _split_digits(
    images: torch.Tensor,
    labels: torch.Tensor,
    train_subset: int | None,
    val_fraction: float,
    seed: int,
) -> DataSplits:
    order = permutation(len(labels), seed)
    n_test = held_out_count(len(order), _DIGITS_TEST_FRACTION)
    test_idx, rest = order[:n_test], order[n_test:]
    n_val = held_out_count(len(rest), val_fraction)
    val_idx, train_idx = rest[:n_val], rest[n_val:][:train_subset]
    x_train, x_val, x_test = standardize(images[train_idx], images[val_idx], images[test_idx])
    return DataSplits(
        train=TensorDataset(x_train, labels[train_idx]),
        val=TensorDataset(x_val, labels[val_idx]),
        test=TensorDataset(x_test, labels[test_idx]),
        num_classes=_NUM_CLASSES,
        input_shape=(1, 8, 8),
        name="digits",
    )


def _load_fashion_mnist(
    folder: Path, train_subset: int | None, val_fraction: float, seed: int
) -> DataSplits:
    missing = [f for f in _FASHION_FILES.values() if not (folder / f).is_file()]
    if missing:
        raise DataError(
            f"Fashion-MNIST not found in {folder} (missing {', '.join(missing)}); install "
            "the Debian package with `apt-get install dataset-fashion-mnist`, or pass root= "
            "to a folder holding the four gzip IDX files"
        )
    arrays = {
        key: read_idx_gz(folder / file, ndim=3 if key.endswith("images") else 1)
        for key, file in _FASHION_FILES.items()
    }
    for split in ("train", "test"):
        _check_pair(arrays[f"{split}_images"], arrays[f"{split}_labels"], folder, split)
    # copy(): the IDX arrays are read-only views of the decompressed bytes, which torch refuses.
    train_images = torch.from_numpy(arrays["train_images"].copy())
    train_labels = torch.from_numpy(arrays["train_labels"].astype(np.int64))
    order = permutation(len(train_labels), seed)
    n_val = held_out_count(len(order), val_fraction)
    val_idx, train_idx = order[:n_val], order[n_val:][:train_subset]
    # Index the uint8 pixels first: only the selected images are ever expanded to float32.
    x_train, x_val, x_test = standardize(
        _unit(train_images[train_idx]),
        _unit(train_images[val_idx]),
        _unit(torch.from_numpy(arrays["test_images"].copy())),
    )
    return DataSplits(
        train=TensorDataset(x_train, train_labels[train_idx]),
        val=TensorDataset(x_val, train_labels[val_idx]),
        test=TensorDataset(x_test, torch.from_numpy(arrays["test_labels"].astype(np.int64))),
        num_classes=_NUM_CLASSES,
        input_shape=(1, 28, 28),
        name="fashion-mnist",
    )


def _check_pair(images: np.ndarray, labels: np.ndarray, folder: Path, split: str) -> None:
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DataError(f"Fashion-MNIST {split} files in {folder} are not uint8 IDX files")
    if images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise DataError(
            f"Fashion-MNIST {split} files in {folder} do not match: images {images.shape}, "
            f"labels {labels.shape}; expected [N, 28, 28] images and N labels"
        )
    if labels.size and not 0 <= int(labels.min()) <= int(labels.max()) < _NUM_CLASSES:
        raise DataError(f"Fashion-MNIST {split} labels in {folder} are outside 0..9")


def _unit(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] in [0, 1]."""
    return pixels.to(torch.float32).div_(255.0).unsqueeze(1)
