"""What does the service add to each trial, and does a job go faster with more workers?

One job of ``--trials`` cheap trials (zoo ``mlp`` on digits, adaptive-BN-free screening only:
no rung, no final fine-tune) runs, each arm on a fresh PostgreSQL database:

* ``in-process``: :func:`search.run_search` in a child process on the database's Optuna
  storage, no Celery, no API: what the library itself costs per trial;
* ``celery-N`` for each N of ``--workers``: the real API (auth on, in a thread of this
  process) and N Celery worker processes (``--concurrency 1`` each, Redis broker), the job
  submitted over REST with ``parallelism`` N.

Per arm, from the study's own timestamps: wall per trial over the screening phase (first
trial start to last completion), its growth (wall per trial of trials 1-100 against the last
100), the objective's time per trial, and throughput relative to ``celery-1``. In every
worker, :mod:`_overhead_probe` times the steps a slice takes (session start-up, ask/tell,
candidate writes, progress heartbeats, study and job reads, the slice record); the time a
worker spends between two of its slices is the queue hop (continuation enqueued, taken,
task started).

    service overhead per trial = celery-1 wall per trial - in-process wall per trial

The arms run one after another (minutes each), so machine noise is not shared as in an
interleaved benchmark: the 1-min load average is recorded before and after each arm, and the
in-process arm is run twice (first and last) to show the drift. On a 2-core machine,
``celery-4`` oversubscribes the cores: its throughput says what the cores allow, not what
the service allows.

``python benchmarks/service_overhead.py`` (about half an hour on 2 cores) writes
benchmarks/results/service_overhead.md; ``--quick`` is a smoke run that writes nothing
unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import optuna
import redis
from _machine import machine  # benchmarks/ is on sys.path when a script runs
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.app import create_app
from service.auth import create_key
from service.cli import serve_in_thread
from service.db import Database, migrate
from service.settings import Settings as ServiceSettings

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "service_overhead.md"
ADMIN_URL = os.environ.get(
    "PRUNESEARCH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("PRUNESEARCH_BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
OWNER = "bench"
WINDOW = 100  # trials per growth window
# A developer's switch: run the workers as ``solo`` under a profiler script, e.g.
# PRUNESEARCH_BENCH_PROFILER=/tmp/profile_worker.py (not part of the figures).
PROFILER = [p for p in [os.environ.get("PRUNESEARCH_BENCH_PROFILER")] if p]
POOL = "solo" if PROFILER else "prefork"


@dataclass(frozen=True)
class Settings:
    trials: int = 500
    workers: tuple[int, ...] = (1, 2, 4)
    timeout_s: float = 3600.0


QUICK = Settings(trials=40, workers=(1, 2), timeout_s=600.0)


def spec(trials: int, parallelism: int) -> dict[str, Any]:
    """The cheap job: an MLP on digits, screening only (no rung, no final epoch)."""
    return {
        "name": f"overhead-{trials}-p{parallelism}",
        "model": {
            "zoo": "mlp",
            "kwargs": {"num_classes": 10, "in_channels": 1},
            "pretrain_epochs": 3,
        },
        "data": {"source": "digits"},
        "budget": {"max_params": 0.5},
        "search": {
            "n_trials": trials,
            "parallelism": parallelism,
            "seed": 0,
            "search_split": 300,
            "calibration_batches": 2,
        },
        "finetune": {
            "rung_candidates": 0,
            "rungs": 0,
            "final_epochs": 0,
            "finalists": 1,
            "distill": False,
        },
    }


@contextlib.contextmanager
def database(label: str) -> Iterator[str]:
    """A fresh migrated PostgreSQL database, dropped after."""
    name = f"ps_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Arm:
    name: str
    workers: int
    wall_s: float  # first trial start to last screening completion
    trials: int
    per_trial_s: float
    objective_s: float  # median objective (trial) duration
    first_window_s: float
    last_window_s: float
    load: tuple[float, float]
    phases: dict[str, float] = field(default_factory=dict)  # seconds per trial
    queue_hop_s: float | None = None  # per trial


def trial_times(storage_url: str, trials: int) -> tuple[list[float], list[float], list[float]]:
    """Start, completion (epoch seconds) and duration of the first ``trials`` completed."""
    storage = optuna.storages.RDBStorage(storage_url)
    try:
        (summary,) = optuna.get_all_study_summaries(storage)
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        done = [
            t
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.datetime_start is not None and t.datetime_complete is not None
        ]
    finally:
        storage.engine.dispose()
    done.sort(key=lambda t: t.datetime_complete)  # type: ignore[arg-type,return-value]
    done = done[:trials]
    starts = [t.datetime_start.timestamp() for t in done]  # type: ignore[union-attr]
    ends = [t.datetime_complete.timestamp() for t in done]  # type: ignore[union-attr]
    return starts, ends, [e - s for s, e in zip(starts, ends, strict=True)]


def arm_of(name: str, workers: int, url: str, trials: int, load: tuple[float, float]) -> Arm:
    starts, ends, durations = trial_times(url, trials)
    window = max(2, min(WINDOW, len(ends) // 4))  # quick runs: a quarter each
    wall = ends[-1] - min(starts)
    return Arm(
        name=name,
        workers=workers,
        wall_s=wall,
        trials=len(ends),
        per_trial_s=wall / len(ends),
        objective_s=statistics.median(durations),
        first_window_s=(ends[window - 1] - min(starts)) / window,
        last_window_s=(ends[-1] - ends[-window - 1]) / window,
        load=load,
    )


def run_in_process(settings: Settings, log: Any) -> Arm:
    with database("inproc") as url:
        load0 = os.getloadavg()[0]
        job = json.dumps(spec(settings.trials, 1))
        code = (
            "import json,sys; from search import SearchSpec, run_search; "
            "run_search(SearchSpec.parse(json.loads(sys.argv[1])), storage=sys.argv[2])"
        )
        env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", code, job, url],
            check=True,
            env=env,
            cwd=REPO,
            timeout=settings.timeout_s,
        )
        log(f"in-process: {time.perf_counter() - started:.1f} s")
        return arm_of("in-process", 0, url, settings.trials, (load0, os.getloadavg()[0]))


@contextlib.contextmanager
def worker_processes(
    count: int, url: str, folder: Path, probe: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = os.environ | {
        "PYTHONPATH": str(REPO),
        "PRUNESEARCH_DATABASE_URL": url,
        "PRUNESEARCH_BROKER_URL": REDIS_URL,
        "PRUNESEARCH_ARTIFACT_DIR": str(folder / "artifacts"),
        "PRUNESEARCH_MAX_PARALLELISM": "16",
        "PRUNESEARCH_LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    processes = []
    for number in range(count):
        log_file = (folder / f"worker{number}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    *PROFILER,
                    str(HERE / "_overhead_worker.py"),
                    str(probe),
                    "-Q",
                    "cpu",
                    "--concurrency",
                    "1",
                    "--pool",
                    POOL,
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel",
                    "WARNING",
                    "-n",
                    f"w{number}@bench",
                ],
                env=env,
                cwd=REPO,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        yield processes
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def run_celery(settings: Settings, workers: int, log: Any) -> Arm:
    redis.Redis.from_url(REDIS_URL).flushdb()
    with (
        database(f"celery{workers}") as url,
        tempfile.TemporaryDirectory(prefix="overhead-") as tmp,
    ):
        folder = Path(tmp)
        probe = folder / "probe.jsonl"
        db = Database(url)
        with db.session() as session:
            token = create_key(session, OWNER)
        db.dispose()
        app = create_app(
            ServiceSettings(
                database_url=url, broker_url=REDIS_URL, artifact_dir=folder / "artifacts"
            )
        )
        with (
            serve_in_thread(app) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60
            ) as client,
            worker_processes(workers, url, folder, probe) as processes,
        ):
            load0 = os.getloadavg()[0]
            started = time.perf_counter()
            response = client.post("/v1/jobs", json=spec(settings.trials, workers))
            response.raise_for_status()
            job_id = response.json()["id"]
            status = wait_done(client, job_id, settings.timeout_s, processes, folder)
            log(f"celery-{workers}: {status} in {time.perf_counter() - started:.1f} s")
            if status != "succeeded":
                detail = client.get(f"/v1/jobs/{job_id}").json()
                raise RuntimeError(f"job {job_id} ended {status}: {detail}")
            load1 = os.getloadavg()[0]
        arm = arm_of(f"celery-{workers}", workers, url, settings.trials, (load0, load1))
        add_probe(arm, probe)
        return arm


def wait_done(
    client: httpx.Client,
    job_id: str,
    timeout_s: float,
    processes: list[subprocess.Popen[bytes]],
    folder: Path,
) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        dead = [p for p in processes if p.poll() is not None]
        if dead:
            logs = "\n".join(f.read_text()[-3000:] for f in folder.glob("worker*.log"))
            raise RuntimeError(f"a worker exited ({dead[0].returncode}):\n{logs}")
        status = str(client.get(f"/v1/jobs/{job_id}").json()["status"])
        if status in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(1.0)
    raise TimeoutError(f"job {job_id} not done after {timeout_s:.0f} s")


def add_probe(arm: Arm, probe: Path) -> None:
    """Per-trial phase seconds, and the queue hop: a worker's gaps between its slices."""
    lines = [json.loads(line) for line in probe.read_text().splitlines() if line.strip()]
    totals: defaultdict[str, float] = defaultdict(float)
    for line in lines:
        for phase, seconds in line["phases"].items():
            totals[phase] += seconds
        unaccounted = line["seconds"] - sum(line["phases"].values())
        totals["rest of the slice (unaccounted)"] += unaccounted
    arm.phases = {phase: seconds / arm.trials for phase, seconds in sorted(totals.items())}
    gaps = 0.0
    by_pid: defaultdict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        by_pid[line["pid"]].append(line)
    for slices in by_pid.values():
        slices.sort(key=lambda item: item["start"])
        gaps += sum(b["start"] - a["end"] for a, b in itertools.pairwise(slices))
    arm.queue_hop_s = gaps / arm.trials


def render(settings: Settings, arms: list[Arm], info: dict[str, str]) -> str:
    base = next(a for a in arms if a.name == "celery-1")
    inproc = [a for a in arms if a.name == "in-process"]
    ref = statistics.mean(a.per_trial_s for a in inproc)
    lines = [
        "# Service overhead per trial, and throughput per worker",
        "",
        "Written by `python benchmarks/service_overhead.py`; see its docstring for the method.",
        "",
        *(f"- {k}: {v}" for k, v in info.items()),
        f"- job: zoo mlp on digits, {settings.trials} screening trials, no rung, no final "
        "epoch; PostgreSQL (fresh database per arm), Redis broker, 1 thread per process",
        "",
        "| arm | trials | wall s | wall ms/trial | objective ms (median) | ms/trial first "
        f"{WINDOW} | last {WINDOW} | last/first | throughput vs celery-1 | load before/after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in arms:
        lines.append(
            f"| {a.name} | {a.trials} | {a.wall_s:.1f} | {1000 * a.per_trial_s:.1f} | "
            f"{1000 * a.objective_s:.1f} | {1000 * a.first_window_s:.1f} | "
            f"{1000 * a.last_window_s:.1f} | {a.last_window_s / a.first_window_s:.2f} | "
            f"{base.per_trial_s / a.per_trial_s:.2f}x | {a.load[0]:.2f} / {a.load[1]:.2f} |"
        )
    lines += [
        "",
        f"Service overhead per trial (celery-1 wall per trial - in-process wall per trial, "
        f"mean of {len(inproc)} in-process runs): "
        f"**{1000 * (base.per_trial_s - ref):.1f} ms**; in-process runs: "
        + ", ".join(f"{1000 * a.per_trial_s:.1f}" for a in inproc)
        + " ms/trial (their spread is the drift between arms).",
        "",
        "Split, from the probe in each worker (ms per trial, all workers summed; the "
        "objective is the trial itself):",
        "",
    ]
    celery = [a for a in arms if a.name.startswith("celery")]
    phases = sorted({p for a in celery for p in a.phases})
    lines.append("| phase | " + " | ".join(a.name for a in celery) + " |")
    lines.append("|---|" + "---|" * len(celery))
    for phase in phases:
        lines.append(
            f"| {phase} | "
            + " | ".join(f"{1000 * a.phases.get(phase, 0.0):.1f}" for a in celery)
            + " |"
        )
    lines.append(
        "| queue hop (gaps between a worker's slices) | "
        + " | ".join(f"{1000 * (a.queue_hop_s or 0.0):.1f}" for a in celery)
        + " |"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--trials", type=int)
    parser.add_argument("--workers", type=lambda s: tuple(int(x) for x in s.split(",")))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    if args.trials:
        settings = Settings(args.trials, settings.workers, settings.timeout_s)
    if args.workers:
        settings = Settings(settings.trials, args.workers, settings.timeout_s)
    out = args.out or (None if args.quick else RESULTS)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    info = machine()
    started = time.perf_counter()
    arms = [run_in_process(settings, log)]
    arms += [run_celery(settings, n, log) for n in settings.workers]
    arms.append(run_in_process(settings, log))
    info["run time"] = f"{time.perf_counter() - started:.0f} s"
    info["1-min load at end"] = f"{os.getloadavg()[0]:.2f}"
    report = render(settings, arms, info)
    print(report)
    if out is not None:
        out.write_text(report)


if __name__ == "__main__":
    main()
