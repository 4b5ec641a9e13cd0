"""A job's results as the server reports them: leaderboard table, best and gains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from service.cli import _layout
from service.cli._format import NONE, gain_text, margin_line, percent
from service.cli._layout import BASELINES, LEGEND
from service.client import BestInfo, CandidateInfo, JobInfo, LeaderboardPage

__all__ = ["best_summary", "leaderboard_table", "print_results", "reference_table"]


def reference_table(job: JobInfo) -> Table:
    """The unpruned model's figures, the yardstick of the budget and of the gains."""
    reference = job.reference or {}
    return _layout.reference_table(
        params=reference.get("params"),
        macs=reference.get("macs"),
        latency_ms=reference.get("latency_ms"),
        val_accuracy=reference.get("val_accuracy"),
        test_accuracy=reference.get("test_accuracy"),
    )


def leaderboard_table(
    page: LeaderboardPage, reference: Mapping[str, Any] | None, best: int | None
) -> Table:
    """One page of candidates; baselines and the best (``best``: its number) are marked."""
    with_latency = any(item.latency_ms is not None for item in page.items)
    shown = f"{page.offset + 1}-{page.offset + len(page.items)}" if page.items else "0"
    return _layout.leaderboard_table(
        page.items,
        title=f"Leaderboard of job {page.job_id} ({page.job_status})",
        caption=f"{shown} of {page.total} · {LEGEND}",
        reference_macs=None if reference is None else reference.get("macs"),
        best=best,
        with_latency=with_latency,
    )


def best_summary(best: BestInfo) -> RenderableType:
    """The best candidate with its share of the reference, and its gain over each baseline."""
    candidate = best.candidate
    state = "final" if best.final else "so far (job still going)"
    lines = [
        Text(
            f"Best {state}: #{candidate.number} ({candidate.kind}), val "
            f"{percent(candidate.accuracy)}, test {percent(candidate.test_accuracy)}, "
            f"MACs {_ratio(best.macs_ratio)}, params {_ratio(best.params_ratio)} of the unpruned",
            style="bold green",
        )
    ]
    gains = {
        "uniform": (best.gain_over_uniform, best.test_gain_over_uniform),
        "global": (best.gain_over_global, best.test_gain_over_global),
        "sensitivity": (best.gain_over_sensitivity, best.test_gain_over_sensitivity),
    }
    for kind in BASELINES:
        lines.append(_gain_line(kind, best.baselines.get(kind), candidate, *gains[kind]))
    if best.final:
        lines.append(Text(margin_line(candidate.kind, best.margin, best.margin_se)))
    return Group(*lines)


def _gain_line(
    kind: str,
    base: CandidateInfo | None,
    best: CandidateInfo,
    gain: float | None,
    test_gain: float | None,
) -> Text:
    label = "" if base is None else f", val {percent(base.accuracy)}"
    return Text(gain_text(kind, base, best, gain, test_gain=test_gain, label=label))


def _ratio(value: float | None) -> str:
    return NONE if value is None else f"{100.0 * value:.1f}%"


def print_results(
    console: Console, job: JobInfo, page: LeaderboardPage, best: BestInfo | None
) -> None:
    """Reference, leaderboard and best, in reading order."""
    console.print(Text("Unpruned reference model", style="bold"))
    console.print(reference_table(job))
    number = None if best is None else best.candidate.number
    console.print(leaderboard_table(page, job.reference, number))
    if best is None:
        console.print(Text("No feasible candidate yet.", style="yellow"))
    else:
        console.print(best_summary(best))
