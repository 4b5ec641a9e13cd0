"""Both CLIs' leaderboards (local search, remote job) render from one layout."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from rich.console import Console
from rich.table import Table

from search import Candidate, SearchResult
from service.cli import _remote_tables, _tables
from service.cli._layout import BASELINE_MARK, BEST_MARK, COLUMNS
from service.client import CandidateInfo, LeaderboardPage

FIGURES: list[dict[str, Any]] = [
    {
        "number": 0,
        "kind": "uniform",
        "state": "complete",
        "fidelity": "final",
        "params": 1200,
        "macs": 50_000,
        "latency_ms": 0.5,
        "proxy_score": 0.8,
        "rung_score": 0.85,
        "accuracy": 0.9,
        "test_accuracy": 0.88,
        "feasible": True,
    },
    {
        "number": 7,
        "kind": "search",
        "state": "complete",
        "fidelity": "final",
        "params": 1000,
        "macs": 40_000,
        "proxy_score": 0.82,
        "accuracy": 0.93,
        "margin": 0.01,
        "margin_se": 0.004,
        "feasible": True,
        "pareto": True,
    },
    {"number": 9, "kind": "search", "state": "fail", "fidelity": "screen"},
]
REFERENCE_MACS = 100_000


def _cells(table: Table) -> list[list[str]]:
    """Headers and cells as plain text, the way a terminal shows them."""
    return [[str(c.header) for c in table.columns]] + [
        [_plain(cell) for cell in column._cells] for column in table.columns
    ]


def _plain(cell: Any) -> str:
    console = Console(width=200, color_system=None)
    with console.capture() as captured:
        console.print(cell)
    return captured.get().strip()


def _local() -> Table:
    leaderboard = [Candidate(**figures) for figures in FIGURES]
    result = SimpleNamespace(
        study_name="s",
        leaderboard=leaderboard,
        best=leaderboard[1],
        reference=SimpleNamespace(macs=REFERENCE_MACS),
        limits=SimpleNamespace(max_latency_ms=None),
    )
    return _tables.leaderboard_table(cast(SearchResult, result))


def _page(figures: list[dict[str, Any]]) -> LeaderboardPage:
    items = [CandidateInfo(**f) for f in figures]
    return LeaderboardPage(
        items=items,
        total=len(items),
        limit=50,
        offset=0,
        job_id="j",
        job_status="running",
        sort="rank",
        order="desc",
    )


def _remote() -> Table:
    return _remote_tables.leaderboard_table(_page(FIGURES), {"macs": REFERENCE_MACS}, best=7)


def test_local_and_remote_leaderboards_have_the_same_columns_and_cells() -> None:
    local, remote = _cells(_local()), _cells(_remote())
    assert local == remote
    assert local[0] == [column.header for column in COLUMNS]
    number, kind = local[1], local[2]
    assert number == ["0", f"{BEST_MARK} 7", "9"]
    assert kind[0] == f"{BASELINE_MARK} uniform"
    styles = [str(getattr(cell, "style", "")) for cell in _local().columns[0]._cells]
    assert styles == ["", "bold green", ""]


def test_the_latency_column_shows_only_with_a_figure() -> None:
    figures = [{k: v for k, v in f.items() if k != "latency_ms"} for f in FIGURES]
    table = _remote_tables.leaderboard_table(_page(figures), None, None)
    headers = [str(c.header) for c in table.columns]
    assert "latency ms" not in headers
    assert len(headers) == len(COLUMNS) - 1
