"""Both CLIs' leaderboards (local search, remote job) render from one layout."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from rich.console import Console
from rich.table import Table

from search import Candidate, SearchResult
from service.cli import _remote_tables, _tables
from service.cli._format import NONE
from service.cli._layout import BASELINE_MARK, BEST_MARK, COLUMNS
from service.client import BestInfo, CandidateInfo, LeaderboardPage

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


def _best(number: int, **fields: Any) -> BestInfo:
    """A final /best reply whose best is FIGURES' candidate ``number``."""
    candidates = {f["number"]: CandidateInfo(**{**f, "test_accuracy": 0.91}) for f in FIGURES}
    return BestInfo(
        job_id="j",
        job_status="succeeded",
        final=True,
        candidate=candidates[number],
        baselines={"uniform": candidates[0], "global": None},
        **fields,
    )


def test_the_remote_summary_says_each_gains_split_and_the_margin_with_its_interval() -> None:
    best = _best(
        7,
        gain_over_uniform=0.03,
        test_gain_over_uniform=-0.006,
        margin=0.01,
        margin_se=0.004,
        margin_ci95=(0.00216, 0.01784),
    )
    text = _plain(_remote_tables.best_summary(best))

    # the server's test gain, not one recomputed from the rows (0.91 - 0.91 = 0)
    assert "Gain over uniform (#0, val 90.00%): +3.00 pts val, -0.60 pts test" in text
    assert f"Gain over global: {NONE} (no global baseline with a final fine-tune)" in text
    assert (
        "Paired margin over the best baseline (val): +1.00 pts ± 0.78, 95% CI +0.22 pts to "
        "+1.78 pts" in text
    )


def test_the_remote_summary_says_none_when_the_best_is_a_baseline() -> None:
    text = _plain(_remote_tables.best_summary(_best(0, gain_over_uniform=0.0)))

    assert "Gain over uniform: none, the best is the uniform baseline (#0)" in text
    assert "Paired margin over the best baseline (val): none, the best is the uniform" in text


def test_the_local_summary_shows_the_test_gains_and_the_margin() -> None:
    leaderboard = [Candidate(**{**f, "test_accuracy": f.get("accuracy")}) for f in FIGURES]
    result = SimpleNamespace(
        best=leaderboard[1],
        baseline=lambda kind: leaderboard[0] if kind == "uniform" else None,
        gain_over=lambda kind, split="val": {"val": 0.03, "test": 0.05}[split],
        rank_correlation=None,
    )
    text = _plain(_tables.summary(cast(SearchResult, result)))

    assert "Gain over uniform (#0): +3.00 pts val, +5.00 pts test" in text
    assert "Paired margin over the best baseline (val): +1.00 pts ± 0.78" in text
