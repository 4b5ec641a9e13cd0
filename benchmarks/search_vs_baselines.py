"""Does the search beat the obvious pruning policies at the same MACs budget?

Fashion-MNIST, ``small_cnn`` trained here (``pretrain_epochs``: the spec has no weights).
For every seed one unpruned reference is trained once and shared by every run of that seed
through ``run_search(..., reference_weights=FILE)``, so each arm prunes the very same model.
For every seed and MACs budget, :func:`search.run_search` runs twice with the same trial
count, proxy and final fine-tune: sampler ``random`` and sampler ``tpe``. The arms:

* ``uniform`` and ``global``: the baseline candidates of those runs (enqueued first, scored
  by the same proxy, given the same final fine-tune as the finalists); reported from the
  tpe run, and checked to agree with the random run;
* ``random`` and ``tpe``: ``result.best`` of each run (the best, on validation data, of the
  finalists, baselines included, after the final fine-tune), reported on test data.

CPU time (``time.process_time``: all threads of this process) is recorded per run, and per
candidate by a callback that marks the CPU clock at every hook (``should_stop`` is asked at
the start of each trial and of each final fine-tune). A baseline arm's CPU time is its
trial (prune, measure, proxy) plus its final fine-tune; a search arm's is the whole run.

Tracked figures, on test accuracy, per seed then mean ± std:

    recovered = (acc_tpe - acc_uniform) / (acc_unpruned - acc_uniform)   (goal >= 0.5 at 15%)
    margin    = acc_tpe - acc_random

Run ``python benchmarks/search_vs_baselines.py`` (about 40 minutes on two cores; writes
``benchmarks/results/search_vs_baselines.md`` and ``.json``), or ``--quick`` for a smoke run
that writes nothing unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import optuna
import torch
from _machine import git_commit  # benchmarks/ is on sys.path when a script runs

from search import (
    Candidate,
    EpochEvent,
    SearchCallback,
    SearchResult,
    SearchSpec,
    TrialEvent,
    prepare,
    run_search,
)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "search_vs_baselines.md"
ARMS = ("uniform", "global", "random", "tpe")
SAMPLERS = ("random", "tpe")
Log = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    """Everything that determines the benchmark (all recorded with the results)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    budgets: tuple[float, ...] = (0.15, 0.05)
    width: int = 16
    train_subset: int = 8000
    val_fraction: float = 0.1
    pretrain_epochs: int = 5
    pretrain_lr: float = 0.1
    n_trials: int = 16
    proxy_epochs: int = 1
    proxy_samples: int = 2048
    final_epochs: int = 3
    finalists: int = 2
    lr: float = 0.01
    batch_size: int = 128
    distill: bool = True
    criterion: str = "l2"
    pruner: str = "median"
    min_keep: float = 0.05
    threads: int = 1


QUICK = Settings(
    seeds=(0,),
    budgets=(0.15,),
    width=8,
    train_subset=1000,
    pretrain_epochs=1,
    n_trials=5,
    proxy_samples=256,
    final_epochs=1,
    finalists=1,
)


def build_spec(settings: Settings, *, seed: int, budget: float, sampler: str) -> SearchSpec:
    """The job spec of one run (data split, pretraining and search all seeded by ``seed``)."""
    return SearchSpec.parse(
        {
            "name": f"bench-s{seed}-m{budget}-{sampler}",
            "model": {
                "zoo": "small_cnn",
                "kwargs": {"width": settings.width},
                "pretrain_epochs": settings.pretrain_epochs,
                "pretrain_lr": settings.pretrain_lr,
            },
            "data": {
                "source": "fashion-mnist",
                "train_subset": settings.train_subset,
                "val_fraction": settings.val_fraction,
                "seed": seed,
            },
            "budget": {"max_macs": budget},
            "search": {
                "n_trials": settings.n_trials,
                "sampler": sampler,
                "seed": seed,
                "criterion": settings.criterion,
                "pruner": settings.pruner,
                "min_keep": settings.min_keep,
            },
            "finetune": {
                "proxy_epochs": settings.proxy_epochs,
                "proxy_samples": settings.proxy_samples,
                "final_epochs": settings.final_epochs,
                "finalists": settings.finalists,
                "lr": settings.lr,
                "batch_size": settings.batch_size,
                "distill": settings.distill,
            },
        }
    )


class CpuClock(SearchCallback):
    """Marks the process CPU clock at every hook, to split a run's CPU time by candidate."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, str, int | None]] = []

    def should_stop(self) -> bool:
        self.marks.append((time.process_time(), "check", None))
        return False

    def on_trial_end(self, event: TrialEvent) -> None:
        self.marks.append((time.process_time(), "trial", event.candidate.number))

    def on_epoch_end(self, event: EpochEvent) -> None:
        self.marks.append((time.process_time(), event.phase, event.number))

    def trial_cpu(self) -> dict[int, float]:
        """CPU seconds of each trial: from its opening check to its end (sampling excluded)."""
        out: dict[int, float] = {}
        start: float | None = None
        for cpu, kind, number in self.marks:
            if kind == "check" and start is None:
                start = cpu
            elif kind == "trial" and number is not None and start is not None:
                out[number] = cpu - start
                start = None
        return out

    def final_cpu(self, end: float) -> dict[int, float]:
        """CPU seconds of each final fine-tune: from the check opening it (the mark just before
        its first epoch) to the check opening the next one, or ``end`` for the last."""
        starts: list[tuple[int, float]] = []
        for previous, (_, kind, number) in zip(self.marks, self.marks[1:], strict=False):
            if kind == "final" and number is not None and all(n != number for n, _ in starts):
                starts.append((number, previous[0]))
        ends = [cpu for _, cpu in starts[1:]] + [end]
        return {number: stop - cpu for (number, cpu), stop in zip(starts, ends, strict=True)}


def train_reference(settings: Settings, seed: int, weights: Path) -> dict[str, Any]:
    """Train (once) the seed's unpruned model into ``weights``; its figures and CPU time."""
    spec = build_spec(settings, seed=seed, budget=settings.budgets[0], sampler="tpe")
    cpu, wall = time.process_time(), time.perf_counter()
    prepared = prepare(spec, reference_weights=weights)
    return {
        "seed": seed,
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
        **prepared.reference.to_dict(),
    }


def run_one(
    settings: Settings, *, seed: int, budget: float, sampler: str, weights: Path
) -> dict[str, Any]:
    """One ``run_search`` with its CPU time, split by candidate."""
    spec = build_spec(settings, seed=seed, budget=budget, sampler=sampler)
    clock = CpuClock()
    storage = optuna.storages.InMemoryStorage()
    cpu, wall = time.process_time(), time.perf_counter()
    result = run_search(spec, storage=storage, callbacks=[clock], reference_weights=weights)
    end = time.process_time()
    study = optuna.load_study(study_name=result.study_name, storage=storage)
    trials, finals = clock.trial_cpu(), clock.final_cpu(end)
    first_check = next((c for c, kind, _ in clock.marks if kind == "check"), end)
    return {
        "seed": seed,
        "budget": budget,
        "sampler": sampler,
        "cpu_s": end - cpu,
        "wall_s": time.perf_counter() - wall,
        "setup_cpu_s": first_check - cpu,
        "rank_correlation": result.rank_correlation,
        "reference": result.reference.to_dict(),
        "best": _arm(result.best, trials, finals),
        "baselines": {k: _arm(result.baseline(k), trials, finals) for k in ARMS[:2]},
        "states": _states(result),
        "reported": {t.number: t.intermediate_values for t in study.trials},
        "leaderboard": result.to_dict()["leaderboard"],
    }


def _arm(
    candidate: Candidate | None, trials: dict[int, float], finals: dict[int, float]
) -> dict[str, Any] | None:
    if candidate is None:
        return None
    return {
        "number": candidate.number,
        "kind": candidate.kind,
        "accuracy": candidate.accuracy,
        "test_accuracy": candidate.test_accuracy,
        "proxy_score": candidate.proxy_score,
        "macs": candidate.macs,
        "feasible": candidate.feasible,
        "ratios": candidate.ratios,
        "timings": candidate.timings,
        "trial_cpu_s": trials.get(candidate.number),
        "final_cpu_s": finals.get(candidate.number),
    }


def _states(result: SearchResult) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in result.leaderboard:
        key = c.state if c.state != "complete" or c.feasible else "infeasible"
        counts[key] = counts.get(key, 0) + 1
    return counts


def run_all(settings: Settings, log: Log) -> dict[str, Any]:
    """Every reference and every run; the raw data of the benchmark."""
    references, runs = [], []
    with tempfile.TemporaryDirectory(prefix="search_vs_baselines-") as folder:
        for seed in settings.seeds:
            weights = Path(folder) / f"reference-seed{seed}.safetensors"
            ref = train_reference(settings, seed, weights)
            references.append(ref)
            log(
                f"seed {seed}: reference val {ref['val_accuracy']:.4f} "
                f"test {ref['test_accuracy']:.4f} ({ref['cpu_s']:.0f} s CPU)"
            )
            for budget in settings.budgets:
                for sampler in SAMPLERS:
                    run = run_one(
                        settings, seed=seed, budget=budget, sampler=sampler, weights=weights
                    )
                    runs.append(run)
                    log(_run_line(run))
    return {"references": references, "runs": runs}


def _run_line(run: dict[str, Any]) -> str:
    best = run["best"] or {}
    base = run["baselines"]["uniform"] or {}
    corr = run["rank_correlation"]
    return (
        f"seed {run['seed']} macs {run['budget']:.2f} {run['sampler']:>6}: best "
        f"{best.get('kind')}#{best.get('number')} val {best.get('accuracy', float('nan')):.4f} "
        f"test {best.get('test_accuracy', float('nan')):.4f} | uniform test "
        f"{base.get('test_accuracy', float('nan')):.4f} | rho "
        f"{'n/a' if corr is None else f'{corr:.2f}'} | {run['cpu_s']:.0f} s CPU, "
        f"{run['wall_s']:.0f} s wall | {run['states']}"
    )


def _run(runs: Sequence[dict[str, Any]], seed: int, budget: float, sampler: str) -> dict[str, Any]:
    return next(
        r for r in runs if r["seed"] == seed and r["budget"] == budget and r["sampler"] == sampler
    )


def arm_values(data: dict[str, Any], budget: float, arm: str) -> list[dict[str, Any]]:
    """One row per seed: the arm's chosen model at ``budget`` and the arm's CPU time."""
    rows = []
    for ref in data["references"]:
        seed = ref["seed"]
        run = _run(data["runs"], seed, budget, "tpe" if arm in ARMS[:2] else arm)
        if arm in ARMS[:2]:
            chosen = run["baselines"][arm] or {}
            cpu = (chosen.get("trial_cpu_s") or 0.0) + (chosen.get("final_cpu_s") or 0.0)
        else:
            chosen, cpu = run["best"] or {}, run["cpu_s"]
        rows.append(
            {
                "seed": seed,
                "val": chosen.get("accuracy"),
                "test": chosen.get("test_accuracy"),
                "macs": (chosen.get("macs") or 0) / ref["macs"],
                "kind": f"{chosen.get('kind')}#{chosen.get('number')}",
                "cpu": cpu,
                "wall": sum(chosen.get("timings", {}).values()) if arm in ARMS[:2] else None,
                "unpruned": ref["test_accuracy"],
            }
        )
    return rows


def baseline_disagreements(data: dict[str, Any]) -> list[str]:
    """Baselines whose figures differ between the random and the tpe run of a seed."""
    out = []
    for tpe in (r for r in data["runs"] if r["sampler"] == "tpe"):
        rnd = _run(data["runs"], tpe["seed"], tpe["budget"], "random")
        for kind in ARMS[:2]:
            a, b = tpe["baselines"][kind] or {}, rnd["baselines"][kind] or {}
            for key in ("ratios", "macs", "proxy_score", "accuracy", "test_accuracy"):
                if a.get(key) != b.get(key):
                    out.append(
                        f"seed {tpe['seed']} macs {tpe['budget']} {kind}.{key}: "
                        f"tpe {a.get(key)} vs random {b.get(key)}"
                    )
    return out


def mean_std(values: Sequence[float | None], scale: float = 1.0, digits: int = 2) -> str:
    present = [v * scale for v in values if v is not None]
    if not present:
        return "n/a"
    spread = statistics.stdev(present) if len(present) > 1 else 0.0
    missing = f" ({len(values) - len(present)} missing)" if len(present) < len(values) else ""
    return f"{statistics.mean(present):.{digits}f} ± {spread:.{digits}f}{missing}"


def tracked(data: dict[str, Any], budget: float) -> dict[str, Any]:
    """The tracked figures at ``budget``, per seed (test accuracy unless said)."""
    arms = {arm: arm_values(data, budget, arm) for arm in ARMS}
    recovered, margin, margin_val = [], [], []
    for uni, rnd, tpe in zip(arms["uniform"], arms["random"], arms["tpe"], strict=True):
        gap = tpe["unpruned"] - uni["test"]
        recovered.append((tpe["test"] - uni["test"]) / gap if gap > 0 else None)
        margin.append(tpe["test"] - rnd["test"])
        margin_val.append(tpe["val"] - rnd["val"])
    runs = [r for r in data["runs"] if r["budget"] == budget]
    return {
        "budget": budget,
        "recovered": recovered,
        "margin_test": margin,
        "margin_val": margin_val,
        "gap": [
            t["unpruned"] - u["test"] for u, t in zip(arms["uniform"], arms["tpe"], strict=True)
        ],
        "rank_correlation": {
            s: [r["rank_correlation"] for r in runs if r["sampler"] == s] for s in SAMPLERS
        },
        "best_kinds": {s: [a["kind"] for a in arms[s]] for s in SAMPLERS},
    }


def summary_table(data: dict[str, Any], settings: Settings) -> str:
    """Mean ± std over seeds of every arm at every budget (accuracies in %)."""
    lines = [
        "| MACs budget | arm | val acc % | test acc % | MACs kept % | CPU s / arm |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for budget in settings.budgets:
        for arm in ARMS:
            rows = arm_values(data, budget, arm)
            lines.append(
                f"| {budget:.0%} | {arm} | {mean_std([r['val'] for r in rows], 100)} "
                f"| {mean_std([r['test'] for r in rows], 100)} "
                f"| {mean_std([r['macs'] for r in rows], 100, 1)} "
                f"| {mean_std([r['cpu'] for r in rows], 1, 0)} |"
            )
    refs = data["references"]
    lines.append(
        f"| 100% | unpruned | {mean_std([r['val_accuracy'] for r in refs], 100)} "
        f"| {mean_std([r['test_accuracy'] for r in refs], 100)} | 100.0 "
        f"| {mean_std([r['cpu_s'] for r in refs], 1, 0)} (pretraining) |"
    )
    return "\n".join(lines)


def seed_table(data: dict[str, Any], settings: Settings) -> str:
    """Test accuracy of every arm, per seed, and which candidate each search run chose."""
    lines = [
        "| MACs budget | seed | unpruned | uniform | global | random (chosen) | tpe (chosen) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for budget in settings.budgets:
        arms = {arm: arm_values(data, budget, arm) for arm in ARMS}
        for i, ref in enumerate(data["references"]):
            cells = [f"{arms[a][i]['test'] * 100:.2f}" for a in ARMS[:2]]
            cells += [f"{arms[a][i]['test'] * 100:.2f} ({arms[a][i]['kind']})" for a in SAMPLERS]
            lines.append(
                f"| {budget:.0%} | {ref['seed']} | {ref['test_accuracy'] * 100:.2f} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines)


def tracked_table(data: dict[str, Any], settings: Settings) -> str:
    lines = [
        "| MACs budget | gap unpruned - uniform (pts) | recovered by tpe | "
        "tpe - random, test (pts) | tpe - random, val (pts) | rank corr. random | "
        "rank corr. tpe |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for budget in settings.budgets:
        t = tracked(data, budget)
        corr = t["rank_correlation"]
        lines.append(
            f"| {budget:.0%} | {mean_std(t['gap'], 100)} | {mean_std(t['recovered'])} "
            f"| {mean_std(t['margin_test'], 100)} | {mean_std(t['margin_val'], 100)} "
            f"| {mean_std(corr['random'])} | {mean_std(corr['tpe'])} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    return {
        "CPU": cpu,
        "cores": str(len(__import__("os").sched_getaffinity(0))),
        "torch threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "Python": platform.python_version(),
        "OS": platform.platform(),
        "commit": git_commit(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def facts(data: dict[str, Any], settings: Settings) -> list[str]:
    """Plain counts the reading below is checked against (generated, not interpreted)."""
    out = []
    for budget in settings.budgets:
        arms = {arm: arm_values(data, budget, arm) for arm in ARMS}
        n = len(arms["tpe"])
        wins = {
            a: sum(t["test"] > o["test"] for t, o in zip(arms["tpe"], arms[a], strict=True))
            for a in ("uniform", "global", "random")
        }
        kinds = tracked(data, budget)["best_kinds"]
        chose_baseline = {s: sum(not k.startswith("search") for k in kinds[s]) for s in SAMPLERS}
        out.append(
            f"At {budget:.0%} MACs, tpe's chosen model has a higher test accuracy than uniform "
            f"in {wins['uniform']}/{n} seeds, than global in {wins['global']}/{n}, than random "
            f"search in {wins['random']}/{n}; the best candidate was a baseline in "
            f"{chose_baseline['tpe']}/{n} tpe runs and {chose_baseline['random']}/{n} random runs."
        )
    out += [_pruner_fact(data, sampler, settings.pruner) for sampler in SAMPLERS]
    disagreements = baseline_disagreements(data)
    out.append(
        "The baselines agree exactly between the random and the tpe run of every seed."
        if not disagreements
        else "Baselines differ between the two runs of a seed: " + "; ".join(disagreements)
    )
    return out


def _pruner_fact(data: dict[str, Any], sampler: str, pruner: str) -> str:
    searched = pruned = at_zero = 0
    for run in (r for r in data["runs"] if r["sampler"] == sampler):
        for c in (c for c in run["leaderboard"] if c["kind"] == "search"):
            searched += 1
            if c["state"] == "pruned":
                pruned += 1
                at_zero += max(run["reported"].get(c["number"], {0: 0.0})) == 0
    return (
        f"{sampler}: the {pruner} pruner stopped {pruned} of {searched} searched "
        f"trials, {at_zero} of them at step 0 (adaptive-BN accuracy, before any fine-tune)."
    )


def runs_table(data: dict[str, Any]) -> str:
    lines = [
        "| seed | MACs | sampler | chosen | val % | test % | rank corr. | trial states "
        "| CPU s | wall s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in data["runs"]:
        best = r["best"] or {}
        corr = r["rank_correlation"]
        states = ", ".join(f"{k} {v}" for k, v in sorted(r["states"].items()))
        lines.append(
            f"| {r['seed']} | {r['budget']:.0%} | {r['sampler']} "
            f"| {best.get('kind')}#{best.get('number')} | {best.get('accuracy', 0) * 100:.2f} "
            f"| {best.get('test_accuracy', 0) * 100:.2f} "
            f"| {'n/a' if corr is None else f'{corr:.2f}'} | {states} "
            f"| {r['cpu_s']:.0f} | {r['wall_s']:.0f} |"
        )
    return "\n".join(lines)


def render(data: dict[str, Any], settings: Settings, host: dict[str, str]) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in host.items())
    options = "\n".join(f"| {k} | {v} |" for k, v in asdict(settings).items())
    listed = "\n".join(f"- {line}" for line in facts(data, settings))
    return f"""# Search versus baselines: Fashion-MNIST, small_cnn

Generated by `python benchmarks/search_vs_baselines.py` ({data["wall_s"] / 60:.1f} min wall,
{data["cpu_s"] / 60:.1f} min CPU for the whole benchmark). Raw per-run data (every candidate
of every run): `search_vs_baselines.json`.

## Machine

| | |
| --- | --- |
{rows}

## Settings

Every run of a seed prunes the same reference (trained once, shared with
`reference_weights`); `n_trials` counts the two enqueued baselines, so each search draws
`n_trials - 2` policies. Baselines and the `finalists` best searched candidates by proxy
score get the same final fine-tune (`final_epochs`, distillation from the reference when
`distill`). Data: `train_subset` training images, `val_fraction` of the 60 000 training
images as validation (seeded), the official 10 000 test images as test.

| setting | value |
| --- | --- |
{options}

## Arms (mean ± std over seeds)

Accuracy of the arm's chosen model after the final fine-tune. uniform/global: the baseline
candidates of the tpe run. random/tpe: `result.best`, which may be a baseline when no searched
finalist beats them on validation data. CPU time per arm: a baseline's own trial plus its
final fine-tune; a search arm's whole `run_search` (its baselines, trials, finals included).

{summary_table(data, settings)}

## Tracked figures

recovered = (test_tpe - test_uniform) / (test_unpruned - test_uniform), per seed; margins are
paired per seed. Rank correlation: Spearman between proxy score and final validation accuracy
over each run's fine-tuned candidates (baselines and finalists).

{tracked_table(data, settings)}

## Test accuracy per seed (%)

{seed_table(data, settings)}

## Every run

{runs_table(data)}

## Facts

{listed}

## Reading

(written by hand after the run; see the commit)
"""


def override(settings: Settings, assignments: Sequence[str]) -> Settings:
    """Apply ``key=value`` overrides (tuples as comma-separated values)."""
    changes: dict[str, Any] = {}
    for item in assignments:
        key, _, text = item.partition("=")
        if key not in asdict(settings):
            raise SystemExit(f"unknown setting {key!r}; known: {', '.join(asdict(settings))}")
        current = getattr(settings, key)
        if isinstance(current, tuple):
            kind = type(current[0])
            changes[key] = tuple(kind(v) for v in text.split(","))
        elif isinstance(current, bool):
            changes[key] = text.lower() in ("1", "true", "yes")
        else:
            changes[key] = type(current)(text)
    return replace(settings, **changes)


def parse(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run; writes nothing")
    parser.add_argument("--out", type=Path, help=f"results file (default {DEFAULT_OUT})")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting"
    )
    args = parser.parse_args(argv)
    settings = override(QUICK if args.quick else Settings(), args.set)
    out = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
    return settings, out


def main(argv: Sequence[str] | None = None) -> int:
    settings, out = parse(argv)
    torch.set_num_threads(settings.threads)

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    host = machine()
    cpu, wall = time.process_time(), time.perf_counter()
    data = run_all(settings, log)
    data |= {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}
    print(summary_table(data, settings))
    print()
    print(tracked_table(data, settings))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(data, settings, host))
        raw = {"machine": host, "settings": asdict(settings), **data}
        out.with_suffix(".json").write_text(json.dumps(raw, indent=1) + "\n")
        log(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
