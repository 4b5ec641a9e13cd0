"""Does the demo's job show what the search does? Its spec run over several seeds.

Runs ``prunesearch demo``'s job (:func:`service.cli._demo.demo_spec`) in this process with
``search.seed`` (and with it the reference's training, the search split and every fine-tune
seed) set to 0..N-1, and reports per seed: which candidate was chosen, its validation and
test accuracy against the uniform baseline's (the same fine-tune), the chosen candidate's
paired margin, and the wall time. The demo is honest only if it says when the best is a
baseline, so a seed where a baseline wins counts as "no gain", not as a failure.

    python benchmarks/demo_seeds.py --seeds 10 --out benchmarks/results/demo_seeds.md
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import optuna
from _machine import git_commit

from search import SearchResult, SearchSpec, run_search
from service.cli import demo_spec


@dataclass(frozen=True)
class Run:
    seed: int
    chosen: str
    val_gain: float | None
    test_gain: float | None
    margin: float | None
    margin_se: float | None
    seconds: float


def run_seed(seed: int, max_macs: float | None) -> Run:
    data = demo_spec()
    if max_macs is not None:
        data["budget"] = {**data["budget"], "max_macs": max_macs}
    data["search"] = {**data["search"], "seed": seed}
    data["data"] = {**data["data"], "seed": seed}
    start = time.perf_counter()
    result: SearchResult = run_search(SearchSpec.parse(data))
    seconds = time.perf_counter() - start
    best = result.best
    assert best is not None, f"seed {seed}: no feasible candidate"
    return Run(
        seed=seed,
        chosen=best.kind,
        val_gain=result.gain_over("uniform"),
        test_gain=result.gain_over("uniform", split="test"),
        margin=best.margin,
        margin_se=best.margin_se,
        seconds=seconds,
    )


def _pt(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:+.2f}"


def report(runs: list[Run], command: str) -> str:
    tests = [r.test_gain for r in runs if r.test_gain is not None]
    wins = sum(g > 0 for g in tests)
    ties = sum(g == 0 for g in tests)
    lines = [
        "# The demo's job over seeds",
        "",
        f"- machine: {platform.node()} ({os.cpu_count()} cores, {platform.machine()}), "
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M UTC}, commit {git_commit()}",
        f"- command: `{command}`",
        "- spec: `service.cli._demo.demo_spec()` with search.seed = data.seed = the seed",
        "",
        "| seed | chosen | val gain over uniform (pt) | test gain over uniform (pt) "
        "| margin ± 1.96 SE (pt) | wall s |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in runs:
        margin = _pt(r.margin)
        if r.margin is not None and r.margin_se is not None:
            margin += f" ± {100.0 * 1.96 * r.margin_se:.2f}"
        lines.append(
            f"| {r.seed} | {r.chosen} | {_pt(r.val_gain)} | {_pt(r.test_gain)} | {margin} "
            f"| {r.seconds:.1f} |"
        )
    lines += [
        "",
        f"Test gain over uniform > 0 on {wins} of {len(tests)} seeds ({ties} ties, where the "
        f"chosen model is the uniform baseline itself or equals it); mean "
        f"{_pt(statistics.fmean(tests) if tests else None)} pt. Wall time per run: median "
        f"{statistics.median(r.seconds for r in runs):.1f} s, max "
        f"{max(r.seconds for r in runs):.1f} s (in-process, no server; `prunesearch demo` "
        "adds the API and the download).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--max-macs", type=float, default=None, help="another budget to try")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runs = []
    for seed in range(args.seeds):
        runs.append(run_seed(seed, args.max_macs))
        print(runs[-1], flush=True)
    budget = "" if args.max_macs is None else f" --max-macs {args.max_macs}"
    text = report(runs, f"python benchmarks/demo_seeds.py --seeds {args.seeds}{budget}")
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
