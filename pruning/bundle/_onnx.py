"""ONNX export with an output-parity check against PyTorch, when the export extra is there."""

from __future__ import annotations

import importlib.util
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pruning._inputs import flat_outputs
from pruning.exceptions import ExportError

# Exported outputs must match PyTorch's within these tolerances, or the file is not kept.
ATOL = 1e-4
RTOL = 1e-3


def onnx_available() -> bool:
    """True when the ``export`` extra (onnx, onnxscript, onnxruntime) is installed."""
    return all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


def export_onnx(model: nn.Module, inputs: tuple[torch.Tensor, ...], target: Path) -> float:
    """Export ``model`` (eval mode, CPU, dynamic batch) and return the largest output error.

    Raises:
        ExportError: the exporter fails or onnxruntime's outputs differ from PyTorch's.
    """
    model = model.eval().cpu()
    inputs = tuple(t.cpu() for t in inputs)
    batch = torch.export.Dim("batch", min=1, max=4096)
    names = [f"input{i}" for i in range(len(inputs))]
    try:
        with warnings.catch_warnings(), _quiet_exporter():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                inputs,
                str(target),
                dynamo=True,
                external_data=False,
                input_names=names,
                dynamic_shapes=tuple({0: batch} for _ in inputs),
                verbose=False,
            )
    except Exception as exc:
        raise ExportError(f"ONNX export failed: {type(exc).__name__}: {exc}") from exc
    return _parity(model, inputs, names, target)


def _parity(
    model: nn.Module, inputs: tuple[torch.Tensor, ...], names: list[str], target: Path
) -> float:
    import onnxruntime

    # A batch other than the traced one also checks that the batch axis stayed dynamic.
    probe = tuple(torch.cat([t, t]) for t in inputs)
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    feeds = {name: t.numpy() for name, t in zip(names, probe, strict=True)}
    got = session.run(None, feeds)
    with torch.no_grad():
        expected = [t.numpy() for t in flat_outputs(model(*probe))]
    error = 0.0
    for ours, theirs in zip(expected, got, strict=True):
        if ours.shape != theirs.shape:
            raise ExportError(
                f"ONNX output shape {theirs.shape} differs from PyTorch's {ours.shape}"
            )
        if not np.allclose(ours, theirs, atol=ATOL, rtol=RTOL):
            raise ExportError(
                f"ONNX outputs differ from PyTorch's by up to {np.max(np.abs(ours - theirs)):.3g}"
            )
        error = max(error, float(np.max(np.abs(ours - theirs), initial=0.0)))
    return error


class _quiet_exporter:  # noqa: N801 - used as a context manager, like contextlib helpers
    """Silence the exporter's progress lines (it logs through ``torch.onnx``)."""

    def __enter__(self) -> None:
        self._logger = logging.getLogger("torch.onnx")
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        self._logger.setLevel(self._level)
