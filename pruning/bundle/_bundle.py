"""Bundles: a pruned model as files that load without pickle (and without this project).

A bundle folder holds ``model.safetensors`` (the weights), ``policy.json`` (the policy, the
channels each layer kept, the input shapes, the source), ``report.json`` (figures before and
after) and, with the export extra, ``model.onnx`` checked against PyTorch.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from pruning._atomic import atomic_path
from pruning._inputs import ExampleInputs, as_tuple
from pruning.apply import PruneRecord, attach, record_of, shrink, width
from pruning.bundle._onnx import export_onnx, onnx_available
from pruning.exceptions import BundleError, PruningError
from pruning.measure import measure
from pruning.policy import Policy

FORMAT = "prunesearch-bundle/1"
WEIGHTS, POLICY, REPORT, ONNX = "model.safetensors", "policy.json", "report.json", "model.onnx"


def save_bundle(
    model: nn.Module,
    policy: Policy,
    path: str | os.PathLike[str],
    *,
    source: Any = None,
    example_inputs: ExampleInputs | None = None,
    metrics: Mapping[str, Any] | None = None,
    onnx: bool | None = None,
) -> Path:
    """Write ``model`` (as returned by :func:`apply_policy`) to the folder ``path``.

    Args:
        source: a JSON-able reference to the unpruned model (zoo name, factory, artifact id).
        example_inputs: needed only for a model that :func:`apply_policy` did not return.
        metrics: extra figures for ``report.json`` (accuracy, say).
        onnx: write ``model.onnx``; ``None`` means "when the export extra is installed".

    Every file is written to a temporary name, fsynced and renamed. Returns the folder.

    Raises:
        BundleError: the model carries no record and no ``example_inputs`` were given.
        ExportError: ``model.onnx`` could not be written or does not match PyTorch.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    record = _record(model, policy, example_inputs)
    inputs = _zeros(record, device=next(iter(model.state_dict().values()), torch.empty(0)).device)
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(folder / WEIGHTS) as tmp:
        safetensors.torch.save_file(weights, str(tmp), metadata={"format": "pt"})
    _write_json(folder / POLICY, _policy_document(policy, record, source))
    after = measure(model, inputs).to_dict()
    report: dict[str, Any] = {"before": record_before(model), "after": after, "onnx": None}
    report["metrics"] = dict(metrics or {})
    if onnx or (onnx is None and onnx_available()):
        error = _write_onnx(model, inputs, folder / ONNX)
        report["onnx"] = {"file": ONNX, "max_abs_error": error}
    _write_json(folder / REPORT, report)
    return folder


def load_bundle(
    path: str | os.PathLike[str],
    model_factory: Callable[[], nn.Module],
    *,
    map_location: str | torch.device = "cpu",
) -> nn.Module:
    """Rebuild a bundle's pruned model: ``model_factory()`` builds the unpruned architecture,
    the bundle's channel counts shrink it, and its safetensors weights are loaded (strictly).

    Raises:
        BundleError: files missing or corrupt, or an architecture that does not match.
    """
    folder = Path(path)
    document = _read_policy(folder)
    record = _record_from_document(document)
    model = model_factory()
    if not isinstance(model, nn.Module):
        raise BundleError(f"model_factory returned {type(model).__name__}, not an nn.Module")
    try:
        if record.kept:
            shrink(model, _zeros(record, device=torch.device("cpu")), record.kept)
    except PruningError as exc:
        raise BundleError(
            f"the bundle does not fit the architecture model_factory builds: {exc}"
        ) from exc
    weights = _read_weights(folder / WEIGHTS, map_location)
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"the bundle's weights do not fit the architecture: {exc}") from exc
    model.to(map_location).eval()
    attach(model, record)
    return model


def record_before(model: nn.Module) -> dict[str, Any] | None:
    record = record_of(model)
    return None if record is None else dict(record.before)


def _record(model: nn.Module, policy: Policy, example_inputs: ExampleInputs | None) -> PruneRecord:
    record = record_of(model)
    if record is not None:
        return record
    if example_inputs is None:
        raise BundleError(
            "this model was not returned by apply_policy, so its input shapes are unknown: "
            "pass example_inputs"
        )
    inputs = as_tuple(example_inputs)
    modules = dict(model.named_modules())
    return PruneRecord(
        policy=policy.to_dict(),
        input_shapes=tuple(tuple(t.shape) for t in inputs),
        input_dtypes=tuple(str(t.dtype).removeprefix("torch.") for t in inputs),
        channels={name: (width(modules[name]),) * 2 for name in policy.ratios if name in modules},
    )


def _policy_document(policy: Policy, record: PruneRecord, source: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "policy": policy.to_dict(),
        "kept": record.kept,
        "channels": {n: {"before": b, "after": a} for n, (b, a) in record.channels.items()},
        "input_shapes": [list(shape) for shape in record.input_shapes],
        "input_dtypes": list(record.input_dtypes),
        "source": source,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
    }


def _read_policy(folder: Path) -> dict[str, Any]:
    target = folder / POLICY
    try:
        document = json.loads(target.read_text())
    except FileNotFoundError as exc:
        raise BundleError(f"{folder} is not a bundle: {POLICY} is missing") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{target} is corrupt: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BundleError(f"{target} is not a {FORMAT} document")
    return document


def _record_from_document(document: Mapping[str, Any]) -> PruneRecord:
    try:
        policy = Policy.from_dict(document["policy"])
        return PruneRecord(
            policy=policy.to_dict(),
            input_shapes=tuple(tuple(int(d) for d in s) for s in document["input_shapes"]),
            input_dtypes=tuple(str(d) for d in document["input_dtypes"]),
            kept={str(k): int(v) for k, v in document["kept"].items()},
            channels={
                str(n): (int(c["before"]), int(c["after"])) for n, c in document["channels"].items()
            },
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(f"{POLICY} is incomplete or malformed: {exc!r}") from exc


def _read_weights(target: Path, map_location: str | torch.device) -> dict[str, torch.Tensor]:
    if not target.is_file():
        raise BundleError(f"{target.parent} is not a complete bundle: {WEIGHTS} is missing")
    try:
        return safetensors.torch.load_file(str(target), device=str(map_location))
    except Exception as exc:  # safetensors raises its own SafetensorError and OSError alike
        raise BundleError(f"{target} is corrupt: {exc}") from exc


def _zeros(record: PruneRecord, *, device: torch.device) -> tuple[torch.Tensor, ...]:
    dtypes = [getattr(torch, name) for name in record.input_dtypes]
    return tuple(
        torch.zeros(shape, dtype=dtype, device=device)
        for shape, dtype in zip(record.input_shapes, dtypes, strict=True)
    )


def _write_onnx(model: nn.Module, inputs: tuple[torch.Tensor, ...], target: Path) -> float:
    with atomic_path(target) as tmp:
        return export_onnx(model, inputs, tmp)


def _write_json(target: Path, data: Any) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
