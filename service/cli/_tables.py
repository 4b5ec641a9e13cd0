"""The end-of-search report: reference figures, budget, leaderboard, gains."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from search import Candidate, SearchResult
from service.cli import _layout
from service.cli._format import NONE, gain_text, margin_line, percent, share
from service.cli._layout import BASELINES, LEGEND, pairs_table


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
    table = _layout.reference_table(
        params=reference.params,
        macs=reference.macs,
        latency_ms=reference.latency_ms,
        val_accuracy=reference.val_accuracy,
        test_accuracy=reference.test_accuracy,
    )
    trained = reference.pretrain_seconds
    table.add_row("pretraining", f"{trained:.1f} s" if trained else "none (weights loaded)")
    return table


def budget_table(result: SearchResult) -> Table:
    limits, reference = result.limits, result.reference
    table = pairs_table()
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
    return _layout.leaderboard_table(
        result.leaderboard,
        title=f"Leaderboard of {result.study_name}",
        caption=f"{LEGEND}   screened/rung: search split; val, margin (paired over the best "
        "baseline, 95%): validation",
        reference_macs=result.reference.macs,
        best=None if result.best is None else result.best.number,
        with_latency=with_latency,
    )


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
        for kind in BASELINES:
            lines.append(_gain_line(result, best, kind))
        lines.append(Text(margin_line(best.kind, best.margin, best.margin_se)))
    correlation = result.rank_correlation
    shown = "n/a (needs 3 finalists)" if correlation is None else f"{correlation:+.2f}"
    lines.append(Text(f"Rank correlation screening → final (Spearman, finalists): {shown}"))
    return Group(*lines)


def _gain_line(result: SearchResult, best: Candidate, kind: str) -> Text:
    test_gain = result.gain_over(kind, split="test")
    return Text(
        gain_text(kind, result.baseline(kind), best, result.gain_over(kind), test_gain=test_gain)
    )
