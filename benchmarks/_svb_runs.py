"""Running search_vs_baselines: job specs, one subprocess per job (its CPU time measured
with ``resource.getrusage``), the cached references and the old checkout."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
JOBS = Path(__file__).resolve().parent / "_svb_jobs.py"
Log = Callable[[str], None]
Json = dict[str, Any]


@dataclass(frozen=True)
class Model:
    """A zoo model and its keyword arguments, written ``name:key=value,key=value``."""

    zoo: str
    kwargs: tuple[tuple[str, int | float], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Model:
        name, _, rest = text.partition(":")
        pairs = [item.split("=", 1) for item in rest.split(",") if item]
        return cls(name, tuple((k, _number(v)) for k, v in pairs))

    @property
    def label(self) -> str:
        return self.zoo + "".join(f" {k}={v}" for k, v in self.kwargs)


@dataclass(frozen=True)
class Budget:
    """One limit, written ``macs=0.15`` or ``params=0.10`` (fractions of the unpruned)."""

    kind: str
    fraction: float

    @classmethod
    def parse(cls, text: str) -> Budget:
        kind, _, value = text.partition("=")
        if kind not in ("macs", "params"):
            raise ValueError(f"budget {text!r}: use macs=F or params=F")
        return cls(kind, float(value))

    @property
    def label(self) -> str:
        return f"{self.fraction:.0%} {'MACs' if self.kind == 'macs' else 'params'}"

    def spec(self) -> Json:
        return {f"max_{self.kind}": self.fraction}


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".e") else int(text)


@dataclass(frozen=True)
class Recipe:
    """What every arm of a seed shares: the data, the reference's training, the finals."""

    train_subset: int | None
    val_fraction: float
    pretrain_epochs: int
    pretrain_lr: float
    batch_size: int
    final_epochs: int
    lr: float
    distill: bool
    calibration_batches: int


def base_spec(model: Model, budget: Budget, seed: int, recipe: Recipe) -> Json:
    """The fields every arm's spec shares (the old checkout reads them too)."""
    return {
        "name": f"svb-{model.zoo}-{budget.kind}{budget.fraction}-s{seed}",
        "model": {
            "zoo": model.zoo,
            "kwargs": dict(model.kwargs),
            "pretrain_epochs": recipe.pretrain_epochs,
            "pretrain_lr": recipe.pretrain_lr,
        },
        "data": {
            "source": "fashion-mnist",
            "train_subset": recipe.train_subset,
            "val_fraction": recipe.val_fraction,
            "seed": seed,
        },
        "budget": budget.spec(),
        "search": {"seed": seed},
        "finetune": {
            "final_epochs": recipe.final_epochs,
            "lr": recipe.lr,
            "batch_size": recipe.batch_size,
            "distill": recipe.distill,
        },
    }


def with_fields(spec: Json, search: Json, finetune: Json) -> Json:
    """``spec`` with more ``search`` and ``finetune`` fields."""
    return spec | {
        "search": spec["search"] | search,
        "finetune": spec["finetune"] | finetune,
    }


def reference_file(cache: Path, model: Model, seed: int, recipe: Recipe) -> Path:
    """Where the reference of (model, seed, data, training) is cached."""
    key = json.dumps(
        [
            *(model.zoo, model.kwargs, seed, recipe.train_subset, recipe.val_fraction),
            *(recipe.pretrain_epochs, recipe.pretrain_lr, recipe.batch_size),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return cache / f"{model.zoo}-seed{seed}-{digest}.safetensors"


class Runner:
    """Runs jobs in subprocesses of this interpreter, with the given checkout first on
    PYTHONPATH, and measures each one's CPU time (user + system, of the child)."""

    def __init__(self, folder: Path, *, threads: int, log: Log) -> None:
        self.folder = folder
        self.threads = threads
        self.log = log
        self.count = 0

    def run(self, job: Json, *, root: Path = REPO) -> Json:
        self.count += 1
        job_file = self.folder / f"job{self.count}.json"
        out_file = self.folder / f"out{self.count}.json"
        job_file.write_text(json.dumps(job | {"threads": self.threads, "root": str(root)}))
        env = os.environ | {
            "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": str(self.threads),
        }
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(JOBS), str(job_file), str(out_file)],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"{job['kind']} job failed:\n{done.stderr[-4000:]}")
        result: Json = json.loads(out_file.read_text())
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return result | {"cpu_s": cpu, "wall_s": time.perf_counter() - wall}


@contextlib.contextmanager
def checkout(commit: str) -> Iterator[Path]:
    """A detached ``git worktree`` of ``commit`` in a temporary folder, removed after."""
    folder = Path(tempfile.mkdtemp(prefix="svb-old-"))
    tree = folder / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), commit],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    try:
        yield tree
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


def pick_screened(leaderboard: list[Json], count: int, seed: int) -> list[Json]:
    """``count`` searched candidates of a run chosen at random (seeded): screened,
    feasible, with a screening score."""
    pool = [
        c
        for c in leaderboard
        if c["kind"] == "search"
        and c["state"] == "complete"
        and c["feasible"]
        and c.get("proxy_score") is not None
    ]
    pool.sort(key=lambda c: c["number"])
    return random.Random(seed).sample(pool, min(count, len(pool)))
