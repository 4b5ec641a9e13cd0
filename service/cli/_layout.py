"""The leaderboard's layout, written once: columns, marks and styles of both CLIs' tables.

The local search (``prunesearch search``, library :class:`search.Candidate` rows) and the
remote commands (``leaderboard``, ``watch``, ``demo``: the client's ``CandidateInfo`` rows)
render from the same column definitions, so the two tables cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from service.cli._format import NONE, count, margin_text, percent, share

if TYPE_CHECKING:  # annotations only: the remote commands need not import the library
    from search import Candidate
    from service.client import CandidateInfo

    # A leaderboard row: the library's candidate (local search) or the client's (remote).
    Row = Candidate | CandidateInfo

__all__ = [
    "BASELINES",
    "COLUMNS",
    "BASELINE_MARK",
    "BEST_MARK",
    "LEGEND",
    "leaderboard_table",
    "pairs_table",
    "reference_table",
]

BASELINE_MARK = "◆"
BEST_MARK = "★"
LEGEND = f"{BASELINE_MARK} baseline (same budget, same fine-tune)   {BEST_MARK} best"
BASELINES = ("uniform", "global", "sensitivity")
_STATE_STYLES = {"complete": "", "pruned": "dim", "fail": "red", "running": "yellow"}


@dataclass(frozen=True)
class _Context:
    reference_macs: float | None
    best: int | None


@dataclass(frozen=True)
class _Column:
    header: str
    cell: Callable[[Row, _Context], Text]
    figure: bool = False  # right-justified
    latency: bool = False  # shown only when some candidate (or the budget) has a latency


def _number(row: Row, context: _Context) -> Text:
    if row.number == context.best:
        return Text(f"{BEST_MARK} {row.number}", style="bold green")
    return Text(str(row.number))


def _kind(row: Row, context: _Context) -> Text:
    if row.kind in BASELINES:
        return Text(f"{BASELINE_MARK} {row.kind}", style="bold cyan")
    return Text(row.kind)


def _latency(row: Row, context: _Context) -> Text:
    return Text(NONE if row.latency_ms is None else f"{row.latency_ms:.3f}")


COLUMNS: tuple[_Column, ...] = (
    _Column("#", _number, figure=True),
    _Column("kind", _kind),
    _Column("state", lambda row, _: Text(row.state, style=_STATE_STYLES.get(row.state, ""))),
    _Column("stage", lambda row, _: Text(row.fidelity)),
    _Column(
        "feasible",
        lambda row, _: Text("yes" if row.feasible else "no", style="" if row.feasible else "red"),
    ),
    _Column("pareto", lambda row, _: Text("yes" if row.pareto else "")),
    _Column("params", lambda row, _: Text(count(row.params))),
    _Column("MACs", lambda row, context: Text(share(row.macs, context.reference_macs))),
    _Column("latency ms", _latency, figure=True, latency=True),
    _Column("screened", lambda row, _: Text(percent(row.proxy_score)), figure=True),
    _Column("rung", lambda row, _: Text(percent(row.rung_score)), figure=True),
    _Column("val acc", lambda row, _: Text(percent(row.accuracy)), figure=True),
    _Column("margin pt", lambda row, _: Text(margin_text(row.margin, row.margin_se)), figure=True),
    _Column("test acc", lambda row, _: Text(percent(row.test_accuracy)), figure=True),
)


def leaderboard_table(
    rows: Sequence[Row],
    *,
    title: str,
    caption: str,
    reference_macs: float | None,
    best: int | None,
    with_latency: bool,
) -> Table:
    """``rows`` in the order given; baselines and the best (``best``: its number) marked."""
    table = Table(title=Text(title, style="bold"), caption=caption, title_justify="left")
    columns = [c for c in COLUMNS if with_latency or not c.latency]
    for column in columns:
        table.add_column(column.header, no_wrap=True, justify="right" if column.figure else "left")
    context = _Context(reference_macs=reference_macs, best=best)
    for row in rows:
        table.add_row(*(column.cell(row, context) for column in columns))
    return table


def reference_table(
    *,
    params: float | None,
    macs: float | None,
    latency_ms: float | None,
    val_accuracy: float | None,
    test_accuracy: float | None,
) -> Table:
    """The unpruned model's figures, the yardstick of the budget and of the gains."""
    table = pairs_table()
    table.add_row("parameters", count(params))
    table.add_row("MACs", count(macs))
    if latency_ms is not None:
        table.add_row("latency", f"{latency_ms:.3f} ms")
    table.add_row("val accuracy", percent(val_accuracy))
    table.add_row("test accuracy", percent(test_accuracy))
    return table


def pairs_table() -> Table:
    """Name and value, no header. Headings are printed above these: a table's title wraps
    to the table's narrow width."""
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    return table
