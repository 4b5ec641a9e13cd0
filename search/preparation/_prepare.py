"""``prepare``: everything a search needs before its first trial, built once per process."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Self

import safetensors.torch
import torch
from torch import nn

from pruning import (
    AnalysisReport,
    DataError,
    LayerInfo,
    PruningError,
    analyze,
    atomic_path,
    evaluate,
    finetune,
    measure,
)
from pruning.data import DataSplits, load_builtin, load_tensors
from search.exceptions import SpecError
from search.preparation._model import load_weights, model_factory
from search.spec import SearchSpec

# Maps an artifact id (service) or a path (CLI) in a spec to a local file.
Resolver = Callable[[str], Path]


@dataclass(frozen=True)
class Reference:
    """Figures of the unpruned model, the yardstick of budgets and of the leaderboard.

    ``layers`` are its prunable layers in model order (name, kind, out_channels, group, as
    :func:`pruning.analyze` reports them), so that a candidate's ratios can be shown as
    channels kept per layer; empty for a reference recorded before layers were kept.
    """

    params: int
    macs: int
    latency_ms: float | None
    val_accuracy: float
    test_accuracy: float | None
    pretrain_seconds: float
    layers: tuple[LayerInfo, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``layers`` as a list of ``{name, kind, out_channels, group}``."""
        data = dict(vars(self))
        data["layers"] = [dict(vars(layer)) for layer in self.layers]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The inverse of :meth:`to_dict`; a dict without ``layers`` (older) gives none."""
        fields = {key: data[key] for key in _REFERENCE_FIELDS if key in data}
        layers = tuple(LayerInfo(**layer) for layer in data.get("layers") or ())
        return cls(**fields, layers=layers)


_REFERENCE_FIELDS = (
    "params",
    "macs",
    "latency_ms",
    "val_accuracy",
    "test_accuracy",
    "pretrain_seconds",
)


@dataclass(frozen=True)
class Prepared:
    """A spec made concrete: the trained unpruned model, its data, analysis and figures."""

    spec: SearchSpec
    model: nn.Module
    factory: Callable[[], nn.Module]
    data: DataSplits
    example_inputs: torch.Tensor
    report: AnalysisReport
    reference: Reference

    @property
    def source(self) -> dict[str, Any]:
        """A JSON reference to the unpruned model, for bundles."""
        model = self.spec.model
        return {"zoo": model.zoo, "factory": model.factory, "kwargs": model.kwargs}


def prepare(
    spec: SearchSpec,
    *,
    resolve: Resolver = Path,
    allowed_factories: Sequence[str] | None = None,
    reference_weights: Path | None = None,
    latency: bool | None = None,
    train: bool = True,
    max_model_params: int | None = None,
) -> Prepared:
    """Load data, build the model, load or train its weights, analyse and measure it.

    With no weights in the spec, the model is trained for ``pretrain_epochs`` (seeded);
    ``reference_weights`` caches that result as safetensors so that another process (a
    worker slice, a resumed run) loads it instead of training again. ``train=False`` skips
    training and evaluation (for validating a spec: costs do not depend on weights).
    ``max_model_params`` refuses a model larger than that before it is built for real (it
    is sized on PyTorch's meta device first, which allocates nothing).

    Raises:
        SpecError: data, model, factory or weights cannot be had, named by field.
    """
    data = load_data(spec, resolve)
    input_shape = tuple(spec.model.input_shape or data.input_shape)
    if tuple(data.input_shape) != input_shape:
        raise SpecError(
            f"input_shape {list(input_shape)} does not match the data's {list(data.input_shape)}",
            field="model.input_shape",
        )
    factory = model_factory(
        spec.model,
        num_classes=data.num_classes,
        in_channels=input_shape[0],
        input_shape=input_shape,
        allowed_factories=allowed_factories,
    )
    if max_model_params is not None:
        _check_size(factory, max_model_params)
    # Seeded construction: the unpruned model must be the same in every process.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.search.seed)
        model = factory()
    seconds = _weights(spec, model, data, resolve, reference_weights, train=train)
    example = data.val.tensors[0][:1].clone()
    try:
        report = analyze(model, example)
    except PruningError as exc:
        raise SpecError(str(exc), field="model") from exc
    if not report.groups:
        raise SpecError("the model has no prunable layers", field="model")
    needs_latency = spec.budget.max_latency_ms is not None or "latency" in spec.search.objectives
    reference = _reference(
        spec, model, data, example, seconds, latency or needs_latency, evaluate_=train
    )
    return Prepared(
        spec=spec,
        model=model.eval(),
        factory=factory,
        data=data,
        example_inputs=example,
        report=report,
        reference=replace(reference, layers=report.prunable),
    )


def _check_size(factory: Callable[[], nn.Module], limit: int) -> None:
    """Refuse a model of more than ``limit`` parameters, counted on the meta device."""
    try:
        with torch.device("meta"):
            params = sum(p.numel() for p in factory().parameters())
    except Exception:  # a factory that cannot build on meta: its real build is bounded later
        return
    if params > limit:
        raise SpecError(
            f"the model has {params:,} parameters, over this server's limit of {limit:,}",
            field="model.kwargs",
        )


def load_data(spec: SearchSpec, resolve: Resolver) -> DataSplits:
    source = spec.data
    try:
        if source.source == "tensors":
            assert source.tensors is not None
            return load_tensors(
                _resolved(resolve, source.tensors, "data.tensors"),
                val_fraction=source.val_fraction,
                seed=source.seed,
            )
        return load_builtin(
            source.source,
            train_subset=source.train_subset,
            val_fraction=source.val_fraction,
            seed=source.seed,
        )
    except DataError as exc:
        raise SpecError(str(exc), field="data") from exc


def _resolved(resolve: Resolver, reference: str, field: str) -> Path:
    """An artifact id or path made a local file; an unknown one is the spec's fault."""
    try:
        path = resolve(reference)
    except (KeyError, LookupError) as exc:
        raise SpecError(f"unknown artifact {reference!r}", field=field) from exc
    if not path.is_file():
        raise SpecError(f"no such file {reference!r}", field=field)
    return path


def _weights(
    spec: SearchSpec,
    model: nn.Module,
    data: DataSplits,
    resolve: Resolver,
    cache: Path | None,
    *,
    train: bool,
) -> float:
    if spec.model.weights is not None:
        load_weights(model, _resolved(resolve, spec.model.weights, "model.weights"))
        return 0.0
    if not train:
        return 0.0
    if cache is not None and cache.is_file():
        _load_cached(model, cache)
        return 0.0
    start = time.perf_counter()
    finetune(
        model,
        data.train,
        epochs=spec.model.pretrain_epochs,
        lr=spec.model.pretrain_lr,
        optimizer=spec.finetune.optimizer,
        batch_size=spec.finetune.batch_size,
        seed=spec.search.seed,
    )
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        # Another process may read it at any moment: the whole file or none.
        with atomic_path(cache) as tmp:
            safetensors.torch.save_file(state, str(tmp))
    return time.perf_counter() - start


def _load_cached(model: nn.Module, cache: Path) -> None:
    try:
        model.load_state_dict(safetensors.torch.load_file(str(cache)), strict=True)
    except Exception as exc:  # a corrupt file and a mismatched one alike
        raise SpecError(
            f"the cached reference weights at {cache} do not fit this model ({exc}); "
            "delete the file to train the reference again",
            field="model",
        ) from exc


def _reference(
    spec: SearchSpec,
    model: nn.Module,
    data: DataSplits,
    example: torch.Tensor,
    pretrain_seconds: float,
    latency: bool,
    *,
    evaluate_: bool,
) -> Reference:
    batch = spec.finetune.batch_size
    latency_spec = spec.budget.latency
    figures = measure(
        model,
        example,
        latency=latency,
        device=latency_spec.device,
        batch_size=latency_spec.batch_size,
        threads=latency_spec.threads,
    )
    return Reference(
        params=figures.params,
        macs=figures.macs,
        latency_ms=figures.latency_ms,
        val_accuracy=evaluate(model, data.val, batch_size=batch).accuracy if evaluate_ else 0.0,
        test_accuracy=(
            evaluate(model, data.test).accuracy if evaluate_ and data.test is not None else None
        ),
        pretrain_seconds=pretrain_seconds,
    )
