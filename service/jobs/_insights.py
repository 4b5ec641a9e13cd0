"""What a job's web page plots: every candidate as a narrow point, the budget in absolute
figures, and one candidate's policy spelled out per layer.

Points are read with one SELECT of the plotted columns only (no ORM objects, no JSON
columns), so a job with 10,000 candidates answers in one round trip.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from pruning import LayerInfo, kept_channels
from search import BudgetSpec, Limits, SearchOptions
from service.exceptions import NotFound
from service.jobs._leaderboard import SCORE
from service.models import Candidate, Job

__all__ = [
    "POINT_COLUMNS",
    "BudgetFigures",
    "LayerView",
    "budget_figures",
    "candidate_layers",
    "get_candidate",
    "job_options",
    "point_rows",
    "points_statement",
    "reference_layers",
]

# The columns of a point, in the order point_rows returns them.
POINT_COLUMNS: tuple[str, ...] = (
    "number",
    "kind",
    "state",
    "feasible",
    "pareto",
    "params",
    "macs",
    "latency_ms",
    "accuracy",
    "proxy_score",
    "rung_score",
    "fidelity",
)


def point_rows(session: Session, job_id: str) -> Sequence[Any]:
    """Every candidate of ``job_id`` as a row of :data:`POINT_COLUMNS` and ``score`` (the
    leaderboard's), by trial number (one query over the ``(job_id, number)`` index)."""
    return session.execute(points_statement(job_id)).all()


def points_statement(job_id: str) -> Select[Any]:
    """The SELECT of :func:`point_rows` (also streamed as CSV)."""
    columns = [getattr(Candidate, name) for name in POINT_COLUMNS]
    return (
        select(*columns, SCORE.label("score"))
        .where(Candidate.job_id == job_id)
        .order_by(Candidate.number)
    )


def get_candidate(session: Session, job: Job, number: int) -> Candidate:
    """Candidate ``number`` of ``job``.

    Raises:
        NotFound: the job has no such candidate (yet).
    """
    statement = select(Candidate).where(Candidate.job_id == job.id, Candidate.number == number)
    found = session.scalars(statement).one_or_none()
    if found is None:
        raise NotFound(f"job {job.id} has no candidate number {number}")
    return found


def job_options(job: Job) -> SearchOptions:
    """The job's search options (its stored spec has every default filled in)."""
    try:
        return SearchOptions.model_validate((job.spec or {}).get("search") or {})
    except ValidationError:  # a spec stored by an older version: the defaults
        return SearchOptions()


@dataclass(frozen=True)
class BudgetFigures:
    """The spec's limits in absolute units; None where not given, or a fraction whose
    reference figure is not known yet."""

    max_params: int | None
    max_macs: int | None
    max_latency_ms: float | None


def budget_figures(job: Job) -> BudgetFigures:
    """The job's budget with fractions of the unpruned model turned into absolute figures,
    as the search applies them (:class:`search.budget.Limits`). Counts are rounded down: a
    count is within the limit exactly when it is within the rounded-down one."""
    raw = (job.spec or {}).get("budget") or {}
    try:
        budget = BudgetSpec.model_validate(raw)
    except ValidationError:
        return BudgetFigures(None, None, None)
    reference = job.reference or {}
    params, macs = reference.get("params"), reference.get("macs")
    limits = Limits.from_spec(budget, params=int(params or 0), macs=int(macs or 0))
    return BudgetFigures(
        max_params=_count(budget.max_params, limits.max_params, params),
        max_macs=_count(budget.max_macs, limits.max_macs, macs),
        max_latency_ms=limits.max_latency_ms,
    )


def _count(given: float | None, absolute: float | None, reference: object) -> int | None:
    if given is None or absolute is None:
        return None
    if given <= 1.0 and not reference:  # a fraction of a figure not measured yet
        return None
    return math.floor(absolute)


def reference_layers(job: Job) -> list[LayerInfo]:
    """The unpruned model's prunable layers in model order, as the job's reference records
    them; empty for a job prepared before layers were recorded (or not prepared yet)."""
    layers = (job.reference or {}).get("layers") or []
    return [
        LayerInfo(
            name=str(layer["name"]),
            kind=str(layer["kind"]),
            out_channels=int(layer["out_channels"]),
            group=int(layer["group"]),
        )
        for layer in layers
    ]


@dataclass(frozen=True)
class LayerView:
    """One prunable layer under a candidate's policy (see :func:`candidate_layers`)."""

    name: str
    kind: str | None
    group: int | None
    original: int | None
    kept: int | None
    ratio: float


def candidate_layers(
    layers: Sequence[LayerInfo],
    ratios: Mapping[str, float],
    *,
    granularity: str,
    round_to: int,
) -> list[LayerView]:
    """Every layer of ``layers`` (model order) with the channels ``ratios`` keep.

    Channel granularity: a layer's ratio is its own, else that of a layer coupled to it (a
    group loses the same channels, as :class:`pruning.Policy` applies it), else 0; kept is
    :func:`pruning.policy.kept_channels` with ``round_to``. Unstructured granularity zeroes
    weights and removes no channel: kept is the original count and ratio the fraction of the
    layer's weights zeroed. With no ``layers`` (an older job), the policy's own layers come
    back with unknown channel counts; names the reference does not list come last that way.
    """
    by_group: dict[int, float] = {}
    if granularity == "channel":
        known = {layer.name: layer for layer in layers}
        for name, ratio in ratios.items():
            layer = known.get(name)
            if layer is not None and ratio > 0.0:
                by_group.setdefault(layer.group, float(ratio))
    views: list[LayerView] = []
    for layer in layers:
        ratio = float(ratios.get(layer.name) or by_group.get(layer.group, 0.0))
        if granularity == "channel":
            kept = kept_channels(layer.out_channels, ratio, round_to) if ratio else None
        else:
            kept = None
        views.append(
            LayerView(
                name=layer.name,
                kind=layer.kind,
                group=layer.group,
                original=layer.out_channels,
                kept=layer.out_channels if kept is None else kept,
                ratio=ratio,
            )
        )
    listed = {layer.name for layer in layers}
    views.extend(
        LayerView(name=name, kind=None, group=None, original=None, kept=None, ratio=float(ratio))
        for name, ratio in ratios.items()
        if name not in listed
    )
    return views
