"""Validate uploads before a job relies on them: weights and datasets, no pickled code.

torch, safetensors and the pruning data loader are imported inside the functions, so the
API process imports them only when the first upload is checked.
"""

from __future__ import annotations

import io
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from service.artifacts._archives import ZIP_MAGICS, check_unpacked_size
from service.exceptions import ArtifactError

__all__ = ["DataInfo", "WeightsInfo", "check_data", "check_weights", "state_dict_from_pickle"]

_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


@dataclass(frozen=True)
class WeightsInfo:
    """What a weights file holds: ``format`` is how it was read."""

    format: Literal["safetensors", "state_dict", "pickle"]
    tensors: int
    elements: int


@dataclass(frozen=True)
class DataInfo:
    """A dataset's shape: samples over all splits, one sample's shape, classes."""

    format: Literal["safetensors", "npz"]
    samples: int
    input_shape: tuple[int, ...]
    num_classes: int


def check_weights(
    path: str | os.PathLike[str],
    allow_pickle: bool = False,
    *,
    name: str | None = None,
    max_unpacked_bytes: int | None = None,
) -> WeightsInfo:
    """Check that ``path`` holds model weights: safetensors, or a state dict that loads with
    ``torch.load(weights_only=True)``. A pickled object (a whole ``nn.Module``) is refused
    unless ``allow_pickle``, because loading it runs code from the file. ``name`` (default:
    the file's name) is how messages refer to the file. A zip checkpoint must inflate to at
    most ``max_unpacked_bytes`` (None: unbounded) before it is loaded.

    Raises:
        UploadTooLarge: a zip checkpoint that inflates past ``max_unpacked_bytes``.
        ArtifactError: Corrupt safetensors, an unreadable file, pickled code, or anything
            but a non-empty mapping of names to tensors; the message says which.
    """
    file = Path(path)
    label = name or file.name
    head = _head(file, label)
    if _is_safetensors(head):
        return _check_safetensors(file, label)
    _check_archive(file, head, label, max_unpacked_bytes)
    return _check_torch_file(file, label, allow_pickle)


def check_data(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    max_unpacked_bytes: int | None = None,
) -> DataInfo:
    """Check that ``path`` is a dataset the search can use: ``.npz`` (read without pickle,
    so object arrays are refused; at most ``max_unpacked_bytes`` once inflated, None:
    unbounded) or safetensors, with at least ``x_train`` and ``y_train``.

    Raises:
        UploadTooLarge: an ``.npz`` that inflates past ``max_unpacked_bytes``.
        ArtifactError: The loader's complaint (missing key, bad dtype or shape, ...).
    """
    from pruning import DataError
    from pruning.data import load_tensors

    file = Path(path)
    label = name or file.name
    head = _head(file, label)
    _check_archive(file, head, label, max_unpacked_bytes)
    try:
        splits = load_tensors(file)
    except DataError as exc:
        # The stored file is named by its id: speak of the name the user knows.
        raise ArtifactError(str(exc).replace(file.name, label)) from exc
    samples = sum(len(split) for split in (splits.train, splits.val, splits.test) if split)
    return DataInfo(
        format="npz" if head.startswith(ZIP_MAGICS) else "safetensors",
        samples=samples,
        input_shape=tuple(splits.input_shape),
        num_classes=splits.num_classes,
    )


def _check_archive(file: Path, head: bytes, label: str, max_bytes: int | None) -> None:
    if max_bytes is not None and head.startswith(ZIP_MAGICS):
        check_unpacked_size(file, label=label, max_bytes=max_bytes)


def _head(file: Path, label: str) -> bytes:
    try:
        with file.open("rb") as stream:
            return stream.read(9)
    except OSError as exc:
        raise ArtifactError(f"{label}: cannot read the file ({exc.strerror})") from exc


def _is_safetensors(head: bytes) -> bool:
    # An 8-byte little-endian header length, then the JSON header.
    return len(head) == 9 and head[8:9] == b"{"


def _check_safetensors(file: Path, label: str) -> WeightsInfo:
    from safetensors import SafetensorError, safe_open

    try:
        # Opening validates the header and that it covers the file; no tensor is loaded.
        with safe_open(str(file), framework="pt") as handle:
            shapes = [handle.get_slice(key).get_shape() for key in handle.keys()]  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ArtifactError(f"{label} is a corrupt safetensors file: {exc}") from exc
    if not shapes:
        raise ArtifactError(f"{label} holds no tensors")
    return WeightsInfo("safetensors", len(shapes), sum(_numel(shape) for shape in shapes))


def _check_torch_file(file: Path, label: str, allow_pickle: bool) -> WeightsInfo:
    import torch

    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        unsafe = _unsafe_globals(file, exc)
        if not unsafe:
            raise _unreadable(label, "unrecognised format") from exc
        if not allow_pickle:
            raise ArtifactError(
                f"{label} is a pickled Python object ({', '.join(unsafe[:3])}), not a state "
                "dict: loading it would run code from the file, so it is refused. Upload "
                "model.state_dict() saved with torch.save, or a safetensors file"
            ) from exc
        return _state_dict_info(_load_pickle(file, label), label, "pickle")
    except Exception as exc:  # the weights-only unpickler fails in many ways on junk
        raise _unreadable(label, _first_line(exc)) from exc
    return _state_dict_info(loaded, label, "state_dict")


def state_dict_from_pickle(path: str | os.PathLike[str], *, name: str | None = None) -> bytes:
    """A pickled module or state dict (accepted under ``allow_pickle``) re-saved as a plain
    state dict that ``torch.load(weights_only=True)`` reads: what the workers load.

    Raises:
        ArtifactError: the pickled object cannot be loaded or holds no state dict.
    """
    import torch

    file = Path(path)
    label = name or file.name
    loaded = _load_pickle(file, label)
    _state_dict_info(loaded, label, "pickle")
    buffer = io.BytesIO()
    torch.save({key: value.detach().cpu() for key, value in loaded.items()}, buffer)
    return buffer.getvalue()


def _load_pickle(file: Path, label: str) -> Any:
    import torch

    # The operator trusts uploads (allow_pickle): this runs the file's code, on purpose.
    try:
        loaded = torch.load(file, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ArtifactError(
            f"{label}: the pickled object cannot be loaded ({_first_line(exc)})"
        ) from exc
    return loaded.state_dict() if isinstance(loaded, torch.nn.Module) else loaded


def _unreadable(label: str, detail: str) -> ArtifactError:
    return ArtifactError(
        f"{label} is neither a safetensors file nor a readable torch state dict ({detail})"
    )


def _state_dict_info(loaded: Any, label: str, fmt: Literal["state_dict", "pickle"]) -> WeightsInfo:
    import torch

    if not isinstance(loaded, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in loaded.items()
    ):
        raise ArtifactError(
            f"{label} holds a {type(loaded).__name__}, not a state dict "
            "(a mapping of parameter names to tensors)"
        )
    if not loaded:
        raise ArtifactError(f"{label} holds no tensors")
    return WeightsInfo(fmt, len(loaded), sum(int(t.numel()) for t in loaded.values()))


def _unsafe_globals(file: Path, exc: Exception) -> list[str]:
    """The classes and functions a checkpoint would need unpickled; empty for a file that
    is not a torch checkpoint at all."""
    import torch

    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(file))
    except (ValueError, RuntimeError, OSError, pickle.UnpicklingError):
        # Legacy (non-zip) checkpoints: the unpickler names the first global it refused.
        return _UNSAFE_GLOBAL.findall(str(exc))


def _numel(shape: list[int]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0][:200] if text else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__
