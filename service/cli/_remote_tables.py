"""A job's results as the server reports them: leaderboard table, best and gains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from service.cli._format import NONE, count, gain_text, margin_text, percent, share
from service.cli._tables import BASELINE_MARK, BEST_MARK
from service.client import BestInfo, CandidateInfo, JobInfo, LeaderboardPage

__all__ = ["best_summary", "leaderboard_table", "print_results", "reference_table"]

_BASELINES = ("uniform", "global", "sensitivity")
_STATE_STYLES = {"complete": "", "pruned": "dim", "fail": "red", "running": "yellow"}


def reference_table(job: JobInfo) -> Table:
    """The unpruned model's figures, the yardstick of the budget and of the gains."""
    reference = job.reference or {}
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("parameters", count(reference.get("params")))
    table.add_row("MACs", count(reference.get("macs")))
    if reference.get("latency_ms") is not None:
        table.add_row("latency", f"{reference['latency_ms']:.3f} ms")
    table.add_row("val accuracy", percent(reference.get("val_accuracy")))
    table.add_row("test accuracy", percent(reference.get("test_accuracy")))
    return table


def leaderboard_table(
    page: LeaderboardPage, reference: Mapping[str, Any] | None, best: int | None
) -> Table:
    """One page of candidates; baselines and the best (``best``: its number) are marked."""
    with_latency = any(item.latency_ms is not None for item in page.items)
    shown = f"{page.offset + 1}-{page.offset + len(page.items)}" if page.items else "0"
    table = Table(
        title=Text(f"Leaderboard of job {page.job_id} ({page.job_status})", style="bold"),
        caption=f"{shown} of {page.total} · {BASELINE_MARK} baseline (same budget, same "
        f"fine-tune)   {BEST_MARK} best",
        title_justify="left",
    )
    for header in ("#", "kind", "state", "stage", "feasible", "pareto", "params", "MACs"):
        table.add_column(header, no_wrap=True, justify="right" if header == "#" else "left")
    if with_latency:
        table.add_column("latency ms", justify="right", no_wrap=True)
    for header in ("screened", "rung", "val acc", "margin pt", "test acc"):
        table.add_column(header, justify="right", no_wrap=True)
    macs = None if reference is None else reference.get("macs")
    for item in page.items:
        table.add_row(*_row(item, macs, with_latency, best=item.number == best))
    return table


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
        "uniform": best.gain_over_uniform,
        "global": best.gain_over_global,
        "sensitivity": best.gain_over_sensitivity,
    }
    for kind in _BASELINES:
        lines.append(_gain_line(kind, best.baselines.get(kind), candidate, gains[kind]))
    return Group(*lines)


def _gain_line(
    kind: str, base: CandidateInfo | None, best: CandidateInfo, gain: float | None
) -> Text:
    label = "" if base is None else f", val {percent(base.accuracy)}"
    return Text(gain_text(kind, base, best, gain, label=label))


def _ratio(value: float | None) -> str:
    return NONE if value is None else f"{100.0 * value:.1f}%"


def _row(item: CandidateInfo, macs: float | None, latency: bool, *, best: bool) -> list[Text]:
    baseline = item.kind in _BASELINES
    cells = [
        Text(
            f"{BEST_MARK} {item.number}" if best else str(item.number),
            style="bold green" if best else "",
        ),
        Text(
            f"{BASELINE_MARK} {item.kind}" if baseline else item.kind,
            style="bold cyan" if baseline else "",
        ),
        Text(item.state, style=_STATE_STYLES.get(item.state, "")),
        Text(item.fidelity),
        Text("yes" if item.feasible else "no", style="" if item.feasible else "red"),
        Text("yes" if item.pareto else ""),
        Text(count(item.params)),
        Text(share(item.macs, macs)),
    ]
    if latency:
        cells.append(Text(NONE if item.latency_ms is None else f"{item.latency_ms:.3f}"))
    cells += [
        Text(percent(item.proxy_score)),
        Text(percent(item.rung_score)),
        Text(percent(item.accuracy)),
        Text(margin_text(item.margin, item.margin_se)),
        Text(percent(item.test_accuracy)),
    ]
    return cells


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
