"""Can the search meet a tight latency budget that width alone cannot, and at what accuracy?

For each model (trained here on Fashion-MNIST, cached in ``--cache-dir``) at batch 1 on one
CPU thread:

1. the unpruned model's latency is measured (``pruning.measure``, median of repeats);
2. the budget is ``--fraction`` of it (``max_latency_ms``), and one job runs through
   :func:`search.run_search` with ``search.depth`` on (the default under a latency budget):
   the latency model steers, every candidate's latency is measured, the finals fine-tune the
   best searched candidates and the baselines (uniform width among them) with the same
   recipe, so the uniform baseline's accuracy is after the same fine-tune;
3. uniform width alone, measured: the latency of ``Policy.uniform`` at the largest ratio the
   spec's ``min_keep`` allows, and, by bisection on measured latency, the smallest uniform ratio
   that meets the budget (or "unreachable").

It reports, per model: the unpruned latency and accuracy, the search's best (measured latency,
speedup, blocks dropped, validation and test accuracy, the drop against the unpruned model)
and the uniform baseline of the same job (measured latency, feasible or not, accuracy after the
same fine-tune). A benchmark that could show we lose: when uniform width meets the budget at
better accuracy, the table says so.

``python benchmarks/latency_budget.py`` (hours on 2 cores: trains the references) writes
benchmarks/results/latency_budget.md; ``--quick`` is a smoke run (tiny data and trials) whose
figures mean nothing and which writes nothing unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from _machine import machine  # benchmarks/ is on sys.path when a script runs

from pruning import Policy, apply_policy, measure
from search import SearchSpec, run_search
from search.preparation import prepare

RESULTS = Path(__file__).resolve().parent / "results" / "latency_budget.md"
DEFAULT_CACHE = Path.home() / ".cache" / "prunesearch" / "latency_budget"
Log = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    models: tuple[str, ...] = ("mobilenet_v2", "resnet20")
    fraction: float = 0.5
    train_subset: int = 12000
    pretrain_epochs: int = 8
    trials: int = 60
    final_epochs: int = 3
    finalists: int = 2
    rung_candidates: int = 6
    rung_steps: int = 40
    min_keep: float = 0.1
    seed: int = 0
    repeats: int = 5  # latency measurements per figure (median of their medians)


QUICK = Settings(
    models=("resnet20",),
    train_subset=1500,
    pretrain_epochs=1,
    trials=8,
    final_epochs=1,
    finalists=1,
    rung_candidates=2,
    rung_steps=4,
    repeats=2,
)


def spec_data(settings: Settings, model: str, max_latency_ms: float) -> dict[str, Any]:
    return {
        "name": f"latency-budget-{model}",
        "model": {
            "zoo": model,
            "kwargs": {"num_classes": 10, "in_channels": 1},
            "pretrain_epochs": settings.pretrain_epochs,
        },
        "data": {
            "source": "fashion-mnist",
            "train_subset": settings.train_subset,
            "seed": settings.seed,
        },
        "budget": {
            "max_latency_ms": max_latency_ms,
            "latency": {"device": "cpu", "batch_size": 1, "threads": 1},
        },
        "search": {
            "n_trials": settings.trials,
            "seed": settings.seed,
            "min_keep": settings.min_keep,
        },
        "finetune": {
            "final_epochs": settings.final_epochs,
            "finalists": settings.finalists,
            "rung_candidates": settings.rung_candidates,
            "rung_steps": settings.rung_steps,
            "distill": True,
        },
    }


def reference_file(cache: Path, settings: Settings, model: str) -> Path:
    key = json.dumps([model, settings.train_subset, settings.pretrain_epochs, settings.seed])
    return cache / f"{model}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.safetensors"


def latency(model: torch.nn.Module, inputs: torch.Tensor, repeats: int) -> float:
    """Median over ``repeats`` of pruning.measure's median latency (batch 1, 1 thread)."""
    values = sorted(
        measure(model, inputs, latency=True, batch_size=1, threads=1).latency_ms or 0.0
        for _ in range(repeats)
    )
    return values[len(values) // 2]


@dataclass
class Row:
    model: str
    unpruned_ms: float
    unpruned_val: float
    unpruned_test: float | None
    budget_ms: float
    best_ms: float | None
    best_val: float | None
    best_test: float | None
    best_drops: int
    best_blocks: int
    uniform_ms: float | None
    uniform_feasible: bool | None
    uniform_val: float | None
    uniform_test: float | None
    uniform_min_keep_ms: float
    uniform_ratio_for_budget: float | None
    search_s: float


def run_model(settings: Settings, model: str, cache: Path, folder: Path, log: Log) -> Row:
    weights = reference_file(cache, settings, model)
    weights.parent.mkdir(parents=True, exist_ok=True)
    # The unpruned latency first: a loose budget only to prepare (train or load) the model.
    loose = SearchSpec.parse(spec_data(settings, model, 1e9))
    prepared = prepare(loose, reference_weights=weights)
    inputs = prepared.example_inputs
    unpruned = latency(prepared.model, inputs, settings.repeats)
    budget = settings.fraction * unpruned
    log(f"{model}: unpruned {unpruned:.3f} ms, budget {budget:.3f} ms")

    report = prepared.report
    top = 1.0 - settings.min_keep
    at_min_keep = apply_policy(prepared.model, Policy.uniform(report, top), inputs)
    min_keep_ms = latency(at_min_keep, inputs, settings.repeats)
    ratio_for_budget = None
    if min_keep_ms <= budget:
        low, high = 0.0, top
        for _ in range(8):
            middle = (low + high) / 2
            pruned = apply_policy(prepared.model, Policy.uniform(report, middle), inputs)
            if latency(pruned, inputs, settings.repeats) <= budget:
                high = middle
            else:
                low = middle
        ratio_for_budget = high
    log(f"{model}: uniform at min_keep {min_keep_ms:.3f} ms; ratio for budget {ratio_for_budget}")

    spec = SearchSpec.parse(spec_data(settings, model, budget))
    started = time.perf_counter()
    result = run_search(
        spec, storage=f"sqlite:///{folder / f'{model}.db'}", reference_weights=weights
    )
    seconds = time.perf_counter() - started
    best = result.best
    uniform = result.baseline("uniform") or next(
        (c for c in result.leaderboard if c.kind == "uniform"), None
    )
    drops = len(getattr(best, "drop_blocks", ()) or ()) if best is not None else 0
    return Row(
        model=model,
        unpruned_ms=unpruned,
        unpruned_val=result.reference.val_accuracy,
        unpruned_test=result.reference.test_accuracy,
        budget_ms=budget,
        best_ms=None if best is None else best.latency_ms,
        best_val=None if best is None else best.accuracy,
        best_test=None if best is None else best.test_accuracy,
        best_drops=drops,
        best_blocks=len(report.blocks),
        uniform_ms=None if uniform is None else uniform.latency_ms,
        uniform_feasible=None if uniform is None else uniform.feasible,
        uniform_val=None if uniform is None else uniform.accuracy,
        uniform_test=None if uniform is None else uniform.test_accuracy,
        uniform_min_keep_ms=min_keep_ms,
        uniform_ratio_for_budget=ratio_for_budget,
        search_s=seconds,
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ratio(value: float | None) -> str:
    return "unreachable" if value is None else f"{value:.3f}"


def render(settings: Settings, rows: list[Row], info: dict[str, str]) -> str:
    lines = [
        "# A latency budget at batch 1: search with depth against uniform width",
        "",
        "Written by `python benchmarks/latency_budget.py`; see its docstring for the method.",
        "",
        *(f"- {k}: {v}" for k, v in info.items()),
        f"- settings: {json.dumps(asdict(settings))}",
        "- latency: pruning.measure, batch 1, 1 thread, median of "
        f"{settings.repeats} measurements; accuracies in %",
        "",
        "| model | unpruned ms | budget ms | best ms | speedup | blocks dropped | best val | "
        "best test | unpruned test | test drop | uniform ms (feasible) | uniform val | "
        "uniform test | uniform at min_keep ms | uniform ratio meeting budget |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        speedup = "-" if not r.best_ms else f"{r.unpruned_ms / r.best_ms:.2f}x"
        drop = (
            "-"
            if r.best_test is None or r.unpruned_test is None
            else f"{100 * (r.unpruned_test - r.best_test):+.2f}"
        )
        lines.append(
            f"| {r.model} | {_ms(r.unpruned_ms)} | {_ms(r.budget_ms)} | {_ms(r.best_ms)} | "
            f"{speedup} | {r.best_drops} of {r.best_blocks} | {_pct(r.best_val)} | "
            f"{_pct(r.best_test)} | {_pct(r.unpruned_test)} | {drop} | "
            f"{_ms(r.uniform_ms)} ({r.uniform_feasible}) | {_pct(r.uniform_val)} | "
            f"{_pct(r.uniform_test)} | {_ms(r.uniform_min_keep_ms)} | "
            f"{_ratio(r.uniform_ratio_for_budget)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", type=lambda s: tuple(s.split(",")))
    parser.add_argument("--train-subset", type=int)
    parser.add_argument("--pretrain-epochs", type=int)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--final-epochs", type=int)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    overrides = {
        "models": args.models,
        "train_subset": args.train_subset,
        "pretrain_epochs": args.pretrain_epochs,
        "trials": args.trials,
        "final_epochs": args.final_epochs,
    }
    settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    out = args.out or (None if args.quick else RESULTS)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    torch.set_num_threads(1)
    info = machine()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="latency-budget-") as tmp:
        rows = [run_model(settings, m, args.cache_dir, Path(tmp), log) for m in settings.models]
    info["run time"] = f"{time.perf_counter() - started:.0f} s"
    report = render(settings, rows, info)
    print(report)
    if out is not None:
        out.write_text(report)


if __name__ == "__main__":
    main()
