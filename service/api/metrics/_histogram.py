"""Histograms computed in SQL, and their samples added to a Prometheus family."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

__all__ = ["add_histogram", "sql_histogram"]


def sql_histogram(
    session: Session,
    column: Any,
    buckets: Sequence[float],
    *,
    group_by: ColumnElement[Any] | Any | None = None,
) -> dict[Any, tuple[list[int], float, int]]:
    """Per group: (cumulative count per bucket bound, sum, count) of ``column``'s non-null
    values, in one aggregate query."""
    values = [
        func.count(column),
        func.coalesce(func.sum(column), 0.0),
        *(func.coalesce(func.sum(case((column <= bound, 1), else_=0)), 0) for bound in buckets),
    ]
    keys = [group_by] if group_by is not None else []
    statement = select(*keys, *values).where(column.is_not(None))
    if group_by is not None:
        statement = statement.group_by(group_by)
    out: dict[Any, tuple[list[int], float, int]] = {}
    for row in session.execute(statement):
        key = row[0] if group_by is not None else None
        count, total, *counts = row[len(keys) :]
        if int(count) == 0:
            continue
        out[key] = ([int(c) for c in counts], float(total), int(count))
    return out


def add_histogram(
    family: HistogramMetricFamily,
    labels: list[str],
    bounds: Iterable[float],
    counts: Sequence[int],
    total: float,
    count: int,
) -> None:
    buckets: list[tuple[str, float]] = [
        (_le(bound), n) for bound, n in zip(bounds, counts, strict=True)
    ]
    buckets.append(("+Inf", count))
    family.add_metric(labels, buckets, sum_value=total)


def _le(bound: float) -> str:
    text: str = floatToGoString(bound)  # type: ignore[no-untyped-call]
    return text
