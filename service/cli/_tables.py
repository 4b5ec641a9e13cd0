"""The end-of-search report: reference figures, budget, leaderboard, gains."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from search import Candidate, SearchResult
from service.cli._format import NONE, count, gain_text, margin_text, percent, share

BASELINE_MARK = "◆"
BEST_MARK = "★"
_BASELINES = ("uniform", "global", "sensitivity")
_STATE_STYLES = {"complete": "", "pruned": "dim", "fail": "red", "running": "yellow"}


def print_report(console: Console, result: SearchResult) -> None:
    """Everything a user needs to judge the search, in reading order."""
    console.print(Text("Unpruned reference model", style="bold"))
    console.print(reference_table(result))
    console.print(Text("Budget (all must hold, by measured figures)", style="bold"))
    console.print(budget_table(result))
    console.print(leaderboard_table(result))
    console.print(summary(result))


def reference_table(result: SearchResult) -> Table:
    reference = result.reference
    table = _pairs()
    table.add_row("parameters", count(reference.params))
    table.add_row("MACs", count(reference.macs))
    if reference.latency_ms is not None:
        table.add_row("latency", f"{reference.latency_ms:.3f} ms")
    table.add_row("val accuracy", percent(reference.val_accuracy))
    table.add_row("test accuracy", percent(reference.test_accuracy))
    trained = reference.pretrain_seconds
    table.add_row("pretraining", f"{trained:.1f} s" if trained else "none (weights loaded)")
    return table


def budget_table(result: SearchResult) -> Table:
    limits, reference = result.limits, result.reference
    table = _pairs()
    table.add_row("max parameters", share(limits.max_params, reference.params))
    table.add_row("max MACs", share(limits.max_macs, reference.macs))
    latency = limits.max_latency_ms
    table.add_row("max latency", NONE if latency is None else f"{latency:.3f} ms")
    return table


def leaderboard_table(result: SearchResult) -> Table:
    """Every candidate, best first; baselines and the best are marked."""
    with_latency = result.limits.max_latency_ms is not None or any(
        c.latency_ms is not None for c in result.leaderboard
    )
    table = Table(
        title=Text(f"Leaderboard of {result.study_name}", style="bold"),
        caption=f"{BASELINE_MARK} baseline (same budget, same fine-tune)   {BEST_MARK} best   "
        "screened/rung: search split; val, margin (paired over the best baseline, 95%): "
        "validation",
        title_justify="left",
    )
    for header in ("#", "kind", "state", "stage", "feasible", "pareto", "params", "MACs"):
        table.add_column(header, no_wrap=True, justify="right" if header == "#" else "left")
    if with_latency:
        table.add_column("latency ms", justify="right", no_wrap=True)
    for header in ("screened", "rung", "val acc", "margin pt", "test acc"):
        table.add_column(header, justify="right", no_wrap=True)
    best = None if result.best is None else result.best.number
    for candidate in result.leaderboard:
        table.add_row(*_row(candidate, result, with_latency, best=candidate.number == best))
    return table


def summary(result: SearchResult) -> RenderableType:
    """The best candidate, its gain over each baseline, and the proxy's rank correlation."""
    lines: list[Text] = []
    best = result.best
    if best is None:
        lines.append(Text("No feasible candidate: nothing to write.", style="bold red"))
    else:
        lines.append(
            Text(
                f"Best: #{best.number} ({best.kind}), val {percent(best.accuracy)}, "
                f"test {percent(best.test_accuracy)}",
                style="bold green",
            )
        )
        for kind in _BASELINES:
            lines.append(_gain_line(result, best, kind))
    correlation = result.rank_correlation
    shown = "n/a (needs 3 finalists)" if correlation is None else f"{correlation:+.2f}"
    lines.append(Text(f"Rank correlation screening → final (Spearman, finalists): {shown}"))
    return Group(*lines)


def _gain_line(result: SearchResult, best: Candidate, kind: str) -> Text:
    return Text(gain_text(kind, result.baseline(kind), best, result.gain_over(kind)))


def _row(candidate: Candidate, result: SearchResult, latency: bool, *, best: bool) -> list[Text]:
    reference = result.reference
    baseline = candidate.kind in _BASELINES
    number = f"{BEST_MARK} {candidate.number}" if best else str(candidate.number)
    kind = f"{BASELINE_MARK} {candidate.kind}" if baseline else candidate.kind
    cells = [
        Text(number, style="bold green" if best else ""),
        Text(kind, style="bold cyan" if baseline else ""),
        Text(candidate.state, style=_STATE_STYLES.get(candidate.state, "")),
        Text(candidate.fidelity),
        Text("yes" if candidate.feasible else "no", style="" if candidate.feasible else "red"),
        Text("yes" if candidate.pareto else ""),
        Text(count(candidate.params)),
        Text(share(candidate.macs, reference.macs)),
    ]
    if latency:
        value = candidate.latency_ms
        cells.append(Text(NONE if value is None else f"{value:.3f}"))
    cells += [
        Text(percent(candidate.proxy_score)),
        Text(percent(candidate.rung_score)),
        Text(percent(candidate.accuracy)),
        Text(margin_text(candidate.margin, candidate.margin_se)),
        Text(percent(candidate.test_accuracy)),
    ]
    return cells


def _pairs() -> Table:
    # Headings are printed above these: a table's title wraps to the table's narrow width.
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    return table
