"""``SearchSpec``: the job spec of DESIGN.md as pydantic models (unknown fields refused)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pruning import CRITERIA, GRANULARITIES, zoo
from pruning.data import BUILTIN_DATASETS
from search._errors import first_problem
from search.exceptions import SpecError

__all__ = [
    "BudgetSpec",
    "DataSpec",
    "FinetuneSpec",
    "LatencySpec",
    "ModelSpec",
    "SearchOptions",
    "SearchSpec",
    "spec_error",
]

Sampler = Literal["tpe", "nsga2", "random", "gp", "cmaes"]
Objective = Literal["accuracy", "macs", "params", "latency"]
PositiveInt = Annotated[int, Field(gt=0, le=2**31 - 1)]
_FACTORY = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")


# Ints beyond this cannot be stored (64-bit columns) and mean nothing for a search anyway.
_MAX_INT = 2**31 - 1
BoundedInt = Annotated[int, Field(ge=0, le=_MAX_INT)]

# Fields of the single-stage search, read as their stage equivalents (documented in the
# README): a spec written for them runs, and says what it meant.
_PROXY_SAMPLES = 4096


def _map_single_stage(data: Any) -> Any:
    """``finetune.proxy_epochs`` x ``proxy_samples`` (one proxy fine-tune per candidate)
    become the first rung's batches, ``rung_steps`` (``proxy_epochs: 0``: no rungs);
    ``search.pruner`` is dropped (successive halving replaces early stopping)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    search = data.get("search")
    if isinstance(search, dict) and "pruner" in search:
        data["search"] = {k: v for k, v in search.items() if k != "pruner"}
    finetune = data.get("finetune")
    if isinstance(finetune, dict) and ({"proxy_epochs", "proxy_samples"} & set(finetune)):
        finetune = dict(finetune)
        epochs = finetune.pop("proxy_epochs", 1)
        samples = finetune.pop("proxy_samples", _PROXY_SAMPLES) or _PROXY_SAMPLES
        batch = finetune.get("batch_size", 128)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (epochs, samples, batch)):
            if epochs <= 0:
                finetune.setdefault("rungs", 0)
            else:
                finetune.setdefault("rung_steps", epochs * -(-samples // max(1, batch)))
        data["finetune"] = finetune
    return data


class _Strict(BaseModel):
    # No NaN or infinity anywhere: every float of a spec is a count, a fraction or a rate.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModelSpec(_Strict):
    """Exactly one of ``zoo`` (a built-in architecture) or ``factory`` ("pkg.module:callable")."""

    zoo: str | None = None
    factory: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    weights: str | None = Field(
        default=None, description="artifact id (service) or file path (CLI) of the weights"
    )
    pretrain_epochs: BoundedInt = 3
    pretrain_lr: Annotated[float, Field(gt=0.0, le=10.0)] = 0.05
    input_shape: tuple[PositiveInt, ...] | None = Field(
        default=None, description="one sample's shape; taken from the data when omitted"
    )

    @field_validator("zoo")
    @classmethod
    def _known_zoo(cls, name: str | None) -> str | None:
        if name is not None and name not in zoo.names():
            raise ValueError(f"unknown zoo model {name!r}; known: {', '.join(zoo.names())}")
        return name

    @field_validator("factory")
    @classmethod
    def _factory_form(cls, factory: str | None) -> str | None:
        if factory is not None and not _FACTORY.fullmatch(factory):
            raise ValueError("factory must look like 'package.module:callable'")
        return factory

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.zoo is None) == (self.factory is None):
            raise ValueError("give exactly one of 'zoo' or 'factory'")
        return self


class DataSpec(_Strict):
    """A built-in dataset, or uploaded tensors (``tensors`` with an artifact id or path)."""

    source: str = "digits"
    tensors: str | None = Field(default=None, description="artifact id or path (npz/safetensors)")
    train_subset: PositiveInt | None = None
    val_fraction: Annotated[float, Field(gt=0.0, le=0.5)] = 0.1
    seed: BoundedInt = 0

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str) -> str:
        if source != "tensors" and source not in BUILTIN_DATASETS:
            known = ", ".join((*BUILTIN_DATASETS, "tensors"))
            raise ValueError(f"unknown data source {source!r}; use one of {known}")
        return source

    @model_validator(mode="after")
    def _tensors_given(self) -> Self:
        if (self.source == "tensors") != (self.tensors is not None):
            raise ValueError("'tensors' (an artifact id or path) goes with source 'tensors' only")
        return self


class LatencySpec(_Strict):
    device: Literal["cpu", "cuda"] = "cpu"
    batch_size: PositiveInt = 1
    threads: PositiveInt = 1


class BudgetSpec(_Strict):
    """Limits every candidate must meet. ``max_params`` and ``max_macs`` in (0, 1] are
    fractions of the unpruned model, larger numbers absolute; ``max_latency_ms`` is absolute,
    measured as ``latency`` says. All limits given must hold."""

    max_macs: Annotated[float, Field(gt=0.0)] | None = None
    max_params: Annotated[float, Field(gt=0.0)] | None = None
    max_latency_ms: Annotated[float, Field(gt=0.0)] | None = None
    latency: LatencySpec = Field(default_factory=LatencySpec)

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if self.max_macs is None and self.max_params is None and self.max_latency_ms is None:
            raise ValueError("give at least one of max_macs, max_params, max_latency_ms")
        return self


class SearchOptions(_Strict):
    """How candidates are screened. ``n_trials`` is the number of candidates screened by
    adaptive BatchNorm (baselines and warm starts included): the search's compute setting.
    Each layer keeps at least ``max(min_channels, min_keep * channels)`` channels (all of a
    layer smaller than ``min_channels``)."""

    n_trials: Annotated[int, Field(ge=3, le=_MAX_INT)] = Field(
        default=200,
        description="candidates screened (adaptive BN only), the three baselines included",
    )
    parallelism: PositiveInt = 1
    sampler: Sampler = "tpe"
    seed: BoundedInt = 0
    objectives: tuple[Objective, ...] = ("accuracy",)
    criterion: str | tuple[str, ...] = Field(
        default="l2", description="one criterion, or several to search as a categorical"
    )
    granularity: str = "channel"
    min_keep: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.1
    min_channels: PositiveInt = Field(
        default=4, description="channels every layer keeps at least (its all, if fewer)"
    )
    round_to: PositiveInt = 1
    search_split: PositiveInt = Field(
        default=2000,
        description="training images held out to score candidates (at most a fifth of them)",
    )
    calibration_batches: PositiveInt = Field(
        default=8, description="batches of the rest of the training data for adaptive BN"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        criteria = (self.criterion,) if isinstance(self.criterion, str) else self.criterion
        unknown = [c for c in criteria if c not in CRITERIA]
        if unknown or not criteria:
            raise ValueError(f"unknown criterion {unknown}; choose from {', '.join(CRITERIA)}")
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}")
        if self.objectives[:1] != ("accuracy",) or len(self.objectives) > 2:
            raise ValueError(
                "objectives must be ['accuracy'] or ['accuracy', <macs|params|latency>]"
            )
        if len(set(self.objectives)) != len(self.objectives):
            raise ValueError("objectives must not repeat")
        if len(self.objectives) == 2 and self.sampler in ("cmaes",):
            raise ValueError("sampler 'cmaes' handles one objective; use nsga2 or tpe for two")
        return self

    @property
    def criteria(self) -> tuple[str, ...]:
        return (self.criterion,) if isinstance(self.criterion, str) else tuple(self.criterion)


class FinetuneSpec(_Strict):
    """Successive halving, then the finals. The best ``rung_candidates`` screened candidates
    and the baselines train ``rung_steps`` batches (rung 1), then the better half of the
    searched ones twice as many (rung 2), and so on for ``rungs`` rungs; the baselines ride
    along and are never eliminated. The best ``finalists`` searched candidates of the last
    rung and the baselines then get ``final_epochs`` epochs. Every candidate of a stage
    trains with the same seed and data order (common random numbers)."""

    rung_candidates: BoundedInt = 8
    rungs: Annotated[int, Field(ge=0, le=8)] = 2
    rung_steps: PositiveInt = 50
    final_epochs: BoundedInt = 5
    finalists: PositiveInt = 2
    lr: Annotated[float, Field(gt=0.0, le=10.0)] = 0.01
    optimizer: Literal["sgd", "adamw"] = "sgd"
    batch_size: PositiveInt = 128
    distill: bool = True


class SearchSpec(_Strict):
    """A whole job: what to prune, on what data, within what budget, searched how."""

    name: str = Field(default="search", min_length=1, max_length=200)
    model: ModelSpec
    data: DataSpec = Field(default_factory=DataSpec)
    budget: BudgetSpec
    search: SearchOptions = Field(default_factory=SearchOptions)
    finetune: FinetuneSpec = Field(default_factory=FinetuneSpec)

    @model_validator(mode="before")
    @classmethod
    def _single_stage_fields(cls, data: Any) -> Any:
        return _map_single_stage(data)

    @classmethod
    def parse(cls, data: Any) -> SearchSpec:
        """Validate ``data``; errors become one :class:`SpecError` naming the field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise spec_error(exc) from exc

    @classmethod
    def from_yaml(cls, path: str | Path) -> SearchSpec:
        try:
            data = yaml.safe_load(Path(path).read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise SpecError(f"cannot read spec {path}: {exc}") from exc
        return cls.parse(data)

    def fingerprint(self) -> str:
        """A stable hash of what determines the search (not the trial count or parallelism)."""
        data = self.model_dump(mode="json")
        data["search"].pop("n_trials")
        data["search"].pop("parallelism")
        data.pop("name")
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def spec_error(exc: ValidationError) -> SpecError:
    problem = first_problem(exc.errors())
    return SpecError(problem.message, field=problem.field)
