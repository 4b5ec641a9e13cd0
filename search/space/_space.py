"""The search space: one keep ratio per coupled group, and optionally the criterion."""

from __future__ import annotations

from collections.abc import Mapping

import optuna

from pruning import AnalysisReport
from search.spec import SearchOptions

_PREFIX = "keep:"


def param_name(group_root: str) -> str:
    return f"{_PREFIX}{group_root}"


def sample(
    trial: optuna.Trial, report: AnalysisReport, options: SearchOptions
) -> tuple[dict[int, float], str]:
    """Per-group prune ratios (1 - keep) and the criterion, drawn from ``trial``."""
    ratios = {
        group.id: 1.0 - trial.suggest_float(param_name(group.root), options.min_keep, 1.0)
        for group in report.groups
    }
    criteria = options.criteria
    criterion = (
        criteria[0] if len(criteria) == 1 else trial.suggest_categorical("criterion", criteria)
    )
    return ratios, str(criterion)


def as_params(
    ratios: Mapping[int, float], report: AnalysisReport, options: SearchOptions
) -> dict[str, object]:
    """The trial parameters that :func:`sample` would turn into ``ratios`` (for enqueueing)."""
    params: dict[str, object] = {
        param_name(g.root): min(1.0, max(options.min_keep, 1.0 - ratios.get(g.id, 0.0)))
        for g in report.groups
    }
    if len(options.criteria) > 1:
        params["criterion"] = options.criteria[0]
    return params


def layer_ratios(ratios: Mapping[int, float], report: AnalysisReport) -> dict[str, float]:
    """Per-group ratios spelled per layer, the form a :class:`pruning.Policy` takes."""
    return {name: ratios[g.id] for g in report.groups for name in g.layers if ratios.get(g.id)}
