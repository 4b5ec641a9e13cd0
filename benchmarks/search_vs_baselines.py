"""Does the staged search beat the obvious pruning policies, paired over seeds?

Fashion-MNIST (the Debian package at /usr/share/datasets/fashion-mnist). For every model,
budget and seed, one unpruned reference (trained here, cached per seed in ``--cache-dir``)
is pruned by every arm, and every arm gets the same final recipe (``final_epochs``, ``lr``,
seed, distillation):

* ``uniform``, ``global``, ``sensitivity``: the baselines of the default run's leaderboard;
* ``random``: the same stages with ``sampler=random`` (random screening);
* ``tpe``: the new default (staged search, TPE);
* ``old-tpe``: the single-stage TPE search of commit ``--old-commit`` (the last one before
  the stages), run from a ``git worktree`` of it, first on PYTHONPATH, on the same weights.

Each arm runs in its own process (CPU time from ``resource.getrusage``). Before the arms of
a (model, budget), the noise floor: the search's uniform policy fine-tuned with
``--noise-seeds`` seeds. At the first budget of each model, the screening-to-final rank
correlation: ``--rank-candidates`` random screened candidates of the random run, each given
the final recipe with the same seed, Spearman between screening score and final accuracy.

``python benchmarks/search_vs_baselines.py`` runs the full benchmark (days on two cores;
see benchmarks/README.md); ``--quick`` a smoke run of minutes whose figures mean nothing.
Writes a markdown table and a JSON beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from _machine import machine  # benchmarks/ is on sys.path when a script runs
from _svb_report import render, summary_lines
from _svb_runs import (
    Budget,
    Json,
    Log,
    Model,
    Recipe,
    Runner,
    base_spec,
    checkout,
    pick_screened,
    reference_file,
    with_fields,
)

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_CACHE = Path.home() / ".cache" / "prunesearch" / "search_vs_baselines"


@dataclass(frozen=True)
class Settings:
    """Everything that determines the benchmark; every field is a command-line option."""

    models: tuple[str, ...] = ("resnet20:width=16", "mobilenet_v2:width_mult=0.5")
    budgets: tuple[str, ...] = ("macs=0.15", "macs=0.07", "params=0.10")
    seeds: int = 3
    main_seeds: int = 5  # the first model at the first budget
    train_subset: int = 0  # 0: all 54,000 training images (60,000 less validation)
    val_fraction: float = 0.1
    pretrain_epochs: int = 15
    pretrain_lr: float = 0.1
    batch_size: int = 128
    screened: int = 200
    search_split: int = 2000
    calibration_batches: int = 8
    rung_candidates: int = 8
    rungs: int = 2
    rung_steps: int = 50
    final_epochs: int = 5
    finalists: int = 2
    lr: float = 0.01
    distill: bool = True
    old_commit: str = "3fc26d9"  # "" skips the old arm
    old_trials: int = 40
    old_proxy_epochs: int = 1
    old_proxy_samples: int = 4096
    old_finalists: int = 3
    noise_seeds: int = 3
    rank_candidates: int = 20  # 0 skips the rank correlation
    threads: int = 1
    cache_dir: str = str(DEFAULT_CACHE)

    def recipe(self) -> Recipe:
        return Recipe(
            train_subset=self.train_subset or None,
            val_fraction=self.val_fraction,
            pretrain_epochs=self.pretrain_epochs,
            pretrain_lr=self.pretrain_lr,
            batch_size=self.batch_size,
            final_epochs=self.final_epochs,
            lr=self.lr,
            distill=self.distill,
            calibration_batches=self.calibration_batches,
        )


QUICK = replace(
    Settings(),
    models=("resnet20:width=8",),
    budgets=("macs=0.15",),
    seeds=1,
    main_seeds=1,
    train_subset=3000,
    pretrain_epochs=6,
    screened=16,
    search_split=500,
    rung_candidates=4,
    rungs=1,
    rung_steps=10,
    final_epochs=2,
    finalists=1,
    old_trials=8,
    old_proxy_samples=512,
    old_finalists=1,
    rank_candidates=6,
)


class Bench:
    """One benchmark run: the cached references, the jobs, the collected raw data."""

    def __init__(self, settings: Settings, runner: Runner, old_tree: Path | None) -> None:
        self.s = settings
        self.recipe = settings.recipe()
        self.runner = runner
        self.old_tree = old_tree
        self.references: dict[tuple[str, int], Json] = {}

    def spec(self, model: Model, budget: Budget, seed: int, sampler: str) -> Json:
        s = self.s
        search = {
            "n_trials": s.screened,
            "sampler": sampler,
            "search_split": s.search_split,
            "calibration_batches": s.calibration_batches,
        }
        finetune = {
            "rung_candidates": s.rung_candidates,
            "rungs": s.rungs,
            "rung_steps": s.rung_steps,
            "finalists": s.finalists,
        }
        return with_fields(base_spec(model, budget, seed, self.recipe), search, finetune)

    def old_spec(self, model: Model, budget: Budget, seed: int) -> Json:
        s = self.s
        finetune = {
            "proxy_epochs": s.old_proxy_epochs,
            "proxy_samples": s.old_proxy_samples,
            "finalists": s.old_finalists,
        }
        search = {"n_trials": s.old_trials, "sampler": "tpe"}
        return with_fields(base_spec(model, budget, seed, self.recipe), search, finetune)

    def reference(self, model: Model, budget: Budget, seed: int) -> tuple[Path, Json]:
        """The seed's reference weights (trained on first use, cached) and figures."""
        weights = reference_file(Path(self.s.cache_dir), model, seed, self.recipe)
        key = (str(weights), seed)
        if key not in self.references:
            cached = weights.is_file()
            spec = self.spec(model, budget, seed, "tpe")
            out = self.runner.run({"kind": "reference", "spec": spec, "weights": str(weights)})
            self.references[key] = out["reference"] | {
                "seed": seed,
                "cached": cached,
                "cpu_s": out["cpu_s"],
                "file": weights.name,
            }
            ref = self.references[key]
            self.runner.log(
                f"{model.label} seed {seed}: reference val {ref['val_accuracy']:.4f} test "
                f"{ref['test_accuracy']:.4f} ({'cached' if cached else 'trained'}, "
                f"{out['cpu_s']:.0f} s CPU)"
            )
        return weights, self.references[key]

    def noise(self, model: Model, budget: Budget, seed: int) -> Json:
        weights, _ = self.reference(model, budget, seed)
        job = {
            "kind": "noise",
            "spec": self.spec(model, budget, seed, "tpe"),
            "weights": str(weights),
            "seeds": [seed + k for k in range(self.s.noise_seeds)],
        }
        out = self.runner.run(job)
        tests = ", ".join(f"{r['test']:.4f}" for r in out["runs"])
        self.runner.log(f"{model.label} {budget.label}: noise floor, uniform test {tests}")
        return out

    def arms(self, model: Model, budget: Budget, seed: int) -> Json:
        """The three search runs of one seed (the baselines come from the tpe run)."""
        weights, reference = self.reference(model, budget, seed)
        runs: Json = {}
        for sampler in ("tpe", "random"):
            spec = self.spec(model, budget, seed, sampler)
            runs[sampler] = self.search(spec, weights, None)
        if self.old_tree is not None:
            old = self.old_spec(model, budget, seed)
            runs["old-tpe"] = self.search(old, weights, self.old_tree)
        for name, run in runs.items():
            best = run["best"] or {}
            self.runner.log(
                f"{model.label} {budget.label} seed {seed} {name}: best {best.get('kind')}"
                f"#{best.get('number')} test {best.get('test_accuracy')} "
                f"({run['cpu_s']:.0f} s CPU)"
            )
        return {"seed": seed, "reference": reference, "runs": runs}

    def search(self, spec: Json, weights: Path, root: Path | None) -> Json:
        job = {"kind": "search", "spec": spec, "weights": str(weights)}
        return self.runner.run(job) if root is None else self.runner.run(job, root=root)

    def rank(self, model: Model, budget: Budget, seed: int, random_run: Json) -> Json:
        """Random screened candidates of the random run, each given the final recipe."""
        weights, _ = self.reference(model, budget, seed)
        chosen = pick_screened(random_run["leaderboard"], self.s.rank_candidates, seed)
        job = {
            "kind": "finetune",
            "spec": self.spec(model, budget, seed, "random"),
            "weights": str(weights),
            "candidates": chosen,
            "seed": seed,
        }
        out = self.runner.run(job)
        screen = {c["number"]: c["proxy_score"] for c in chosen}
        runs = [r | {"screen": screen[r["number"]]} for r in out["runs"]]
        self.runner.log(f"{model.label} {budget.label}: rank correlation on {len(runs)}")
        return {"seed": seed, "runs": runs, "cpu_s": out["cpu_s"]}

    def cell(self, model: Model, budget: Budget, seeds: range, *, rank: bool) -> Json:
        noise = self.noise(model, budget, seeds[0])
        per_seed = [self.arms(model, budget, seed) for seed in seeds]
        ranked = None
        if rank and self.s.rank_candidates > 0:
            ranked = self.rank(model, budget, seeds[0], per_seed[0]["runs"]["random"])
        return {
            "model": model.label,
            "budget": budget.label,
            "noise": noise,
            "seeds": per_seed,
            "rank": ranked,
        }


def run_benchmark(settings: Settings, log: Log, on_cell: Callable[[Json], None]) -> Json:
    """Every cell (model x budget), in order; the raw data of the benchmark. ``on_cell``
    sees the data so far after each cell (a long run keeps what it measured)."""
    models = [Model.parse(m) for m in settings.models]
    budgets = [Budget.parse(b) for b in settings.budgets]
    cells: list[Json] = []
    with tempfile.TemporaryDirectory(prefix="svb-") as folder, old_checkout(settings) as old:
        bench = Bench(settings, Runner(Path(folder), threads=settings.threads, log=log), old)
        for i, model in enumerate(models):
            for j, budget in enumerate(budgets):
                n = settings.main_seeds if i == j == 0 else settings.seeds
                cells.append(bench.cell(model, budget, range(n), rank=j == 0))
                on_cell({"cells": cells, "planned_cells": len(models) * len(budgets)})
    return {"cells": cells, "planned_cells": len(models) * len(budgets)}


@contextlib.contextmanager
def old_checkout(settings: Settings) -> Iterator[Path | None]:
    if not settings.old_commit:
        yield None
        return
    with checkout(settings.old_commit) as tree:
        yield tree


def parse(argv: Sequence[str] | None) -> tuple[Settings, Path, bool]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument("--out", type=Path, help="results file (.md; a .json goes beside it)")
    for field in fields(Settings):
        default = getattr(Settings(), field.name)
        flag = "--" + field.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif isinstance(default, tuple):
            parser.add_argument(flag, nargs="+", default=None, help=f"default {default}")
        else:
            parser.add_argument(flag, type=type(default), default=None, help=f"default {default}")
    args = vars(parser.parse_args(argv))
    base = QUICK if args["quick"] else Settings()
    given = {f.name: args[f.name] for f in fields(Settings) if args[f.name] is not None}
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
    name = "search_vs_baselines_quick.md" if args["quick"] else "search_vs_baselines.md"
    return replace(base, **given), args["out"] or RESULTS / name, args["quick"]


def main(argv: Sequence[str] | None = None) -> int:
    settings, out, quick = parse(argv)

    def log(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    meta: dict[str, Any] = {
        "machine": machine(),
        "command": shlex.join(["python", "benchmarks/search_vs_baselines.py", *sys.argv[1:]]),
        "quick": quick,
        "settings": asdict(settings),
    }
    wall = time.perf_counter()

    def write(data: Json) -> None:
        meta["wall_s"] = time.perf_counter() - wall
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(data, meta))
        out.with_suffix(".json").write_text(json.dumps(meta | data, indent=1) + "\n")
        log(f"wrote {out} and {out.with_suffix('.json')} ({len(data['cells'])} cells)")

    data = run_benchmark(settings, log, write)
    print("\n".join(summary_lines(data)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
