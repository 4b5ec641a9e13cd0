"""Latency speedup versus MACs reduction of uniform channel pruning, on CPU.

For each zoo model (CIFAR-sized 32x32 inputs), each ``round_to`` and each target MACs
reduction, the uniform ratio is found by bisection on the MACs that
:func:`pruning.count_macs` measures on the pruned model. The unpruned and pruned models are
then timed with :func:`pruning.measure` in the same run, interleaved over several rounds (the
order rotates every round, so machine noise hits all of them alike), and each figure is the
median of the per-round medians.

    speedup    = unpruned median latency / pruned median latency
    efficiency = speedup / achieved MACs reduction      (1.0: latency falls as fast as MACs)

Run ``python benchmarks/latency_vs_macs.py`` (a few minutes; writes
``benchmarks/results/latency_vs_macs.md``) or ``--quick`` for a smoke run that writes nothing
unless ``--out`` is given. ``--round-to``, ``--threads``, ``--batches``, ``--channels-last``
and ``--fuse-bn`` vary the conditions for investigations.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import importlib.metadata
import math
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from _machine import git_commit  # benchmarks/ is on sys.path when a script runs
from torch import nn

from pruning import AnalysisReport, Policy, analyze, apply_policy, count_macs, measure, zoo

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latency_vs_macs.md"
INPUT_SHAPE = (1, 3, 32, 32)
MAX_RATIO = 0.95
RATIO_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Settings:
    """What one run measures, and how hard it tries."""

    models: tuple[str, ...] = ("resnet20", "mobilenet_v2")
    targets: tuple[float, ...] = (2.0, 4.0)
    round_tos: tuple[int, ...] = (1, 8)
    batches: tuple[int, ...] = (1, 32)
    threads: tuple[int, ...] = (1,)
    rounds: int = 15
    min_run_time: float = 0.2
    warmup: int = 2
    # A cell (model, threads, batch) whose unpruned model's per-round medians spread more than
    # max_noise (relative IQR) is timed again, up to `attempts` times; the quietest is kept.
    max_noise: float = 0.10
    attempts: int = 3
    channels_last: bool = False
    fuse_bn: bool = False


QUICK = Settings(
    targets=(2.0,),
    round_tos=(8,),
    batches=(1,),
    threads=(1,),
    rounds=2,
    min_run_time=0.05,
    attempts=1,
)


@dataclass(frozen=True)
class Pruned:
    """One pruned model and how far it is from the unpruned one."""

    model: str
    round_to: int
    target: float
    ratio: float
    macs_reduction: float
    params_reduction: float
    module: nn.Module = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.model}/round_to={self.round_to}/target={self.target:g}"


@dataclass(frozen=True)
class Timing:
    """Per-round medians and IQRs (ms) of one model in one interleaved series."""

    medians: tuple[float, ...]
    iqrs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.medians)

    @property
    def iqr(self) -> float:
        return statistics.median(self.iqrs)

    @property
    def noise(self) -> float:
        """Relative IQR of the per-round medians: how much the machine moved between rounds."""
        if len(self.medians) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.medians, n=4)
        return (q3 - q1) / self.median


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    pruned: Pruned
    threads: int
    batch: int
    base: Timing
    timing: Timing
    attempts: int = 1

    @property
    def speedup(self) -> float:
        return self.base.median / self.timing.median

    @property
    def efficiency(self) -> float:
        return self.speedup / self.pruned.macs_reduction

    @property
    def speedup_range(self) -> tuple[float, float]:
        """Lowest and highest paired per-round speedup (same round, base vs pruned)."""
        paired = [b / p for b, p in zip(self.base.medians, self.timing.medians, strict=True)]
        return min(paired), max(paired)


# --- pruning to a MACs target -------------------------------------------------------------


def prune_to(
    model: nn.Module,
    report: AnalysisReport,
    x: torch.Tensor,
    *,
    name: str,
    target: float,
    round_to: int,
) -> Pruned:
    """The uniform ratio whose measured MACs reduction is closest (in log) to ``target``.

    MACs fall monotonically as the ratio grows, so bisection brackets the target between the
    largest ratio that stays below it and the smallest that reaches it; with ``round_to`` > 1
    the MACs move in steps, and the closer of the two sides is taken.
    """

    def reduction(ratio: float) -> tuple[float, nn.Module]:
        if ratio == 0.0:
            return 1.0, model
        policy = Policy.uniform(report, ratio, round_to=round_to)
        pruned = apply_policy(model, policy, x, report=report)
        return report.macs / count_macs(pruned, x), pruned

    lo, hi = 0.0, MAX_RATIO
    lo_side, hi_side = reduction(lo), reduction(hi)
    if hi_side[0] < target:
        lo, lo_side = hi, hi_side  # unreachable: report the most this ratio range can do
    while hi - lo > RATIO_TOLERANCE and hi_side[0] >= target:
        mid = (lo + hi) / 2
        mid_side = reduction(mid)
        if mid_side[0] >= target:
            hi, hi_side = mid, mid_side
        else:
            lo, lo_side = mid, mid_side
    below = abs(math.log(lo_side[0] / target))
    above = abs(math.log(hi_side[0] / target))
    ratio, (macs_reduction, pruned) = (lo, lo_side) if below < above else (hi, hi_side)
    return Pruned(
        model=name,
        round_to=round_to,
        target=target,
        ratio=ratio,
        macs_reduction=macs_reduction,
        params_reduction=report.params / measure(pruned, x).params,
        module=pruned,
    )


# --- timing ---------------------------------------------------------------------------------


def deployed(module: nn.Module, settings: Settings) -> nn.Module:
    """The module as it is timed: eval mode, optionally BN-folded and/or channels-last."""
    module = copy.deepcopy(module).eval()
    if settings.fuse_bn:
        from torch.fx.experimental.optimization import fuse

        module = fuse(module)
    if settings.channels_last:
        # Module.to takes memory_format (documented), but torch's stubs do not list it.
        module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return module


def time_interleaved(
    modules: dict[str, nn.Module],
    x: torch.Tensor,
    *,
    batch: int,
    threads: int,
    settings: Settings,
) -> dict[str, Timing]:
    """Time every module ``settings.rounds`` times, rotating the order each round."""
    names = list(modules)
    medians: dict[str, list[float]] = {n: [] for n in names}
    iqrs: dict[str, list[float]] = {n: [] for n in names}
    for round_index in range(settings.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            m = measure(
                modules[name],
                x,
                latency=True,
                batch_size=batch,
                threads=threads,
                warmup=settings.warmup,
                min_run_time=settings.min_run_time,
            )
            assert m.latency_ms is not None and m.latency_iqr_ms is not None
            medians[name].append(m.latency_ms)
            iqrs[name].append(m.latency_iqr_ms)
    return {n: Timing(tuple(medians[n]), tuple(iqrs[n])) for n in names}


def run_model(name: str, settings: Settings, log: Callable[[str], None]) -> list[Row]:
    """Prune ``name`` to every (round_to, target), then time it at every (threads, batch)."""
    torch.manual_seed(0)
    model = zoo.build(name, num_classes=10, in_channels=3).eval()
    x = torch.randn(INPUT_SHAPE, generator=torch.Generator().manual_seed(0))
    report = analyze(model, x)
    variants = []
    for round_to in settings.round_tos:
        for target in settings.targets:
            found = prune_to(model, report, x, name=name, target=target, round_to=round_to)
            log(
                f"{found.key}: ratio {found.ratio:.4f}, MACs / {found.macs_reduction:.3f}, "
                f"params / {found.params_reduction:.3f}"
            )
            variants.append(found)
    modules = {"base": deployed(model, settings)}
    modules |= {v.key: deployed(v.module, settings) for v in variants}
    rows = []
    for threads in settings.threads:
        for batch in settings.batches:
            cell = f"{name} threads={threads} batch={batch}"
            timings, attempts = time_cell(modules, x, cell, threads, batch, settings, log)
            rows += [
                Row(v, threads, batch, timings["base"], timings[v.key], attempts) for v in variants
            ]
    return rows


def time_cell(
    modules: dict[str, nn.Module],
    x: torch.Tensor,
    cell: str,
    threads: int,
    batch: int,
    settings: Settings,
    log: Callable[[str], None],
) -> tuple[dict[str, Timing], int]:
    """Time one cell until it is quiet enough (or out of attempts); the quietest attempt."""
    best: dict[str, Timing] | None = None
    for attempt in range(1, settings.attempts + 1):
        started = time.perf_counter()
        timings = time_interleaved(modules, x, batch=batch, threads=threads, settings=settings)
        noise = timings["base"].noise
        log(
            f"{cell}: attempt {attempt}, {time.perf_counter() - started:.0f} s, noise "
            f"{noise:.1%}, 1-min load {os.getloadavg()[0]:.2f}"
        )
        if best is None or noise < best["base"].noise:
            best = timings
        if noise <= settings.max_noise:
            break
    assert best is not None
    return best, attempt


# --- reporting ------------------------------------------------------------------------------

COLUMNS = (
    "model",
    "threads",
    "batch",
    "round_to",
    "target",
    "ratio",
    "MACs red.",
    "params red.",
    "base ms (median ± IQR)",
    "pruned ms (median ± IQR)",
    "speedup (round range)",
    "efficiency",
)


def cells(row: Row) -> list[str]:
    low, high = row.speedup_range
    return [
        row.pruned.model,
        str(row.threads),
        str(row.batch),
        str(row.pruned.round_to),
        f"{row.pruned.target:g}x",
        f"{row.pruned.ratio:.3f}",
        f"{row.pruned.macs_reduction:.2f}x",
        f"{row.pruned.params_reduction:.2f}x",
        f"{row.base.median:.3f} ± {row.base.iqr:.3f}",
        f"{row.timing.median:.3f} ± {row.timing.iqr:.3f}",
        f"{row.speedup:.2f} ({low:.2f}-{high:.2f})",
        f"**{row.efficiency:.2f}**",
    ]


def sort_key(row: Row) -> tuple[str, int, int, int, float]:
    return (row.pruned.model, row.threads, row.batch, row.pruned.round_to, row.pruned.target)


def geomean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def summary(rows: Sequence[Row]) -> list[str]:
    """Geometric-mean efficiency overall and per (model, round_to, batch)."""
    lines = [f"- all rows: **{geomean([r.efficiency for r in rows]):.2f}**"]
    groups: dict[tuple[str, int, int], list[float]] = {}
    for r in rows:
        groups.setdefault((r.pruned.model, r.pruned.round_to, r.batch), []).append(r.efficiency)
    for (model, round_to, batch), values in sorted(groups.items()):
        lines.append(f"- {model}, round_to={round_to}, batch {batch}: {geomean(values):.2f}")
    return lines


def noise_lines(rows: Sequence[Row]) -> list[str]:
    """Per cell: the relative IQR of the unpruned model's per-round medians, and attempts."""
    cells_seen = {(r.pruned.model, r.threads, r.batch): r for r in rows}
    return [
        f"- {model}, threads {threads}, batch {batch}: {row.base.noise:.1%} "
        f"({row.attempts} attempt{'s' if row.attempts > 1 else ''})"
        for (model, threads, batch), row in sorted(cells_seen.items())
    ]


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def print_table(rows: Sequence[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title="latency speedup vs MACs reduction (CPU)")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in rows:
        table.add_row(*(c.replace("**", "") for c in cells(row)))
    console.print(table)
    console.print(
        "geometric-mean efficiency:", *(s.replace("**", "") for s in summary(rows)), sep="\n"
    )


def machine() -> dict[str, str]:
    """The conditions the figures were taken under."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    onednn = re.search(r"MKL-DNN v([\d.]+)", torch.__config__.show())
    return {
        "CPU": f"{cpu} ({os.cpu_count()} logical cores, {torch.backends.cpu.get_cpu_capability()})",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "torch": f"{torch.__version__} (oneDNN {onednn.group(1) if onednn else '?'}), "
        f"torch-pruning {importlib.metadata.version('torch-pruning')}",
        "process niceness": str(os.nice(0)),
        "commit": git_commit(),
    }


def render(rows: Sequence[Row], settings: Settings, notes: dict[str, str]) -> str:
    """The results file: conditions, method, the table and the summary."""
    info = machine() | notes
    layout = "channels-last" if settings.channels_last else "contiguous (NCHW)"
    method = [
        f"threads {', '.join(map(str, settings.threads))} (Timer num_threads); "
        f"{settings.rounds} interleaved rounds, order rotated each round; per round "
        f"`pruning.measure(latency=True, warmup={settings.warmup}, "
        f"min_run_time={settings.min_run_time})`",
        "latency: median of the per-round medians ± median of the per-round IQRs (ms)",
        "speedup: base median / pruned median; in brackets the lowest and highest speedup of "
        "one round (base and pruned timed back to back)",
        "efficiency: speedup / achieved MACs reduction",
        f"models: `zoo.build(name, num_classes=10, in_channels=3)`, seed 0, eval mode, fp32, "
        f"{layout}, BatchNorm {'folded into convs' if settings.fuse_bn else 'as is'}; "
        f"input 1x3x32x32 repeated to the batch",
        "pruning: `Policy.uniform(report, ratio, round_to=...)` (criterion l2), ratio by "
        "bisection on `count_macs`, the side closest to the target",
    ]
    return "\n".join(
        [
            "# Latency speedup vs MACs reduction (CPU)",
            "",
            "Written by `python benchmarks/latency_vs_macs.py`; see benchmarks/README.md.",
            "",
            *(f"- {key}: {value}" for key, value in info.items()),
            *(f"- {line}" for line in method),
            "",
            markdown_table(rows),
            "",
            "Geometric-mean efficiency:",
            "",
            *summary(rows),
            "",
            "Noise per cell (relative IQR of the unpruned model's per-round medians; a cell "
            f"above {settings.max_noise:.0%} is timed again, {settings.attempts} attempts at most, "
            "and the quietest attempt is kept):",
            "",
            *noise_lines(rows),
            "",
        ]
    )


# --- command line ---------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run, writes no file")
    parser.add_argument("--out", type=Path, help=f"results file (default {DEFAULT_OUT})")
    parser.add_argument("--models", nargs="+", choices=zoo.names())
    parser.add_argument("--targets", nargs="+", type=float, help="MACs reductions, e.g. 2 4")
    parser.add_argument("--round-to", nargs="+", type=int, dest="round_tos")
    parser.add_argument("--batches", nargs="+", type=int)
    parser.add_argument("--threads", nargs="+", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--channels-last", action="store_true", help="time channels-last")
    parser.add_argument("--fuse-bn", action="store_true", help="fold BatchNorm into convs")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    overrides: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value
        for key in ("models", "targets", "round_tos", "batches", "threads", "rounds")
        if (value := getattr(args, key)) is not None
    }
    overrides |= {k: True for k in ("channels_last", "fuse_bn") if getattr(args, k)}
    settings = replace(settings, **overrides)
    out = args.out if args.out is not None or args.quick else DEFAULT_OUT
    return settings, out


def main(argv: Sequence[str] | None = None) -> int:
    settings, out = parse(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    # The timed calls get their own thread count (Timer's num_threads); everything else
    # (tracing, pruning, MAC counting) runs on one thread: on a busy two-core machine,
    # two OpenMP threads competing with other processes make a forward up to 100x slower.
    torch.set_num_threads(1)
    started = time.perf_counter()
    load_before = os.getloadavg()
    rows = [row for name in settings.models for row in run_model(name, settings, log)]
    rows.sort(key=sort_key)
    load_after = os.getloadavg()
    print_table(rows)
    notes = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "run time": f"{time.perf_counter() - started:.0f} s",
        "1-min load average": f"{load_before[0]:.2f} at start, {load_after[0]:.2f} at end",
    }
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(rows, settings, notes))
        log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
