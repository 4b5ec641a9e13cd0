"""Do the job page's reads stay fast as a job's candidates grow (100 -> 10,000)?

For each database backend (SQLite in a temporary file, PostgreSQL in a throwaway database)
and each candidate count N, a database is migrated and given one API key, one succeeded job
(a reference with 10 prunable layers) and N candidates with realistic fields, written the way
the workers write them (:meth:`service.jobs.SqlJobStore.record_candidates`). The real app
(:func:`service.app.create_app`, auth on, no broker) serves each database from a thread of
this process (:func:`service.cli._local_server.serve_in_thread`), and the reads the job page
makes are timed over loopback with httpx (one keep-alive client per server).

The servers of one backend run side by side and are timed interleaved: every round visits
every (N, read) once, the order rotated each round, so noise from the rest of the machine
falls on all sizes alike. Each figure is the median (and IQR) of the per-request wall times
of ``--rounds`` rounds after ``--warmup`` untimed ones.

    ratio = median at the largest N / median at the smallest N   (paged reads: near 1)

``/points`` returns every candidate by design (the page plots them all), so it grows linearly
with N; its response size is reported too. ``/metrics`` aggregates every candidate of every
job (duration histograms), so it grows with the database, not with a page.

Run ``python benchmarks/ui_reads.py`` (a few minutes; writes
``benchmarks/results/ui_reads.md``) or ``--quick`` for a smoke run that writes nothing unless
``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import gzip
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from _machine import git_commit  # benchmarks/ is on sys.path when a script runs
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from search import SearchSpec
from service.app import create_app
from service.artifacts import ArtifactStore
from service.auth import create_key
from service.cli import serve_in_thread
from service.db import Database, migrate
from service.jobs import SqlJobStore
from service.models import Job, JobStatus, add_job, transition
from service.settings import Settings as ServiceSettings

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "ui_reads.md"
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
OWNER = "bench"
LAYERS = 10
# A paged read is "fast" below this at the largest N (the brief of issue #5).
SLOW_MS = 200.0


@dataclass(frozen=True)
class Settings:
    """What one run measures, and how hard it tries."""

    sizes: tuple[int, ...] = (100, 1000, 10000, 30000)
    backends: tuple[str, ...] = ("sqlite", "postgres")
    rounds: int = 21
    warmup: int = 3
    seed: int = 0
    # Investigation switch: gc.freeze() once the servers are up, so that Python's full
    # collections stop walking the objects of the imports (torch among them).
    gc_freeze: bool = False


QUICK = Settings(sizes=(10, 100), rounds=3, warmup=1)


@dataclass(frozen=True)
class Read:
    """One request the job page makes; ``path`` is formatted with the job id and N."""

    name: str
    path: str
    paged: bool  # its response should not grow with N


def reads() -> tuple[Read, ...]:
    return (
        Read("job", "/v1/jobs/{job}", paged=True),
        Read("leaderboard (rank, first page)", "/v1/jobs/{job}/leaderboard?limit=50", paged=True),
        Read(
            "leaderboard (macs asc, middle page)",
            "/v1/jobs/{job}/leaderboard?limit=50&sort=macs&order=asc&offset={middle}",
            paged=True,
        ),
        Read("best", "/v1/jobs/{job}/best", paged=True),
        Read("candidate detail", "/v1/jobs/{job}/candidates/{middle}", paged=True),
        Read("points (every candidate)", "/v1/jobs/{job}/points", paged=False),
        Read("metrics", "/metrics", paged=False),
        Read("page html", "/ui/jobs/{job}", paged=True),
        Read("static script", "/ui/static/js/job.js", paged=True),
    )


@dataclass(frozen=True)
class Timing:
    """Wall times (ms) of one read at one N, and the size of its last response body."""

    times: tuple[float, ...]
    size: int
    gzip_size: int

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def iqr(self) -> float:
        if len(self.times) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.times, n=4)
        return q3 - q1


# --- the data -------------------------------------------------------------------------------


def spec_data(n: int) -> dict[str, Any]:
    """A full stored spec (defaults filled in, as submission stores it): two objectives."""
    spec = SearchSpec.parse(
        {
            "name": f"bench-{n}",
            "model": {"zoo": "resnet20", "pretrain_epochs": 1},
            "data": {"source": "digits"},
            "budget": {"max_macs": 0.5},
            "search": {"n_trials": n, "objectives": ["accuracy", "macs"]},
        }
    )
    return spec.model_dump(mode="json")


def layer_names() -> list[str]:
    return [f"layer{i // 3 + 1}.{i % 3}.conv1" for i in range(LAYERS)]


def reference() -> dict[str, Any]:
    """The unpruned model's figures and its prunable layers (as a prepared job has them)."""
    widths = [16, 16, 16, 32, 32, 32, 64, 64, 64, 64]
    return {
        "params": 272_474,
        "macs": 40_813_184,
        "latency_ms": 3.8,
        "val_accuracy": 0.912,
        "test_accuracy": 0.905,
        "pretrain_seconds": 41.0,
        "layers": [
            {"name": name, "kind": "conv", "out_channels": width, "group": i}
            for i, (name, width) in enumerate(zip(layer_names(), widths, strict=True))
        ],
    }


def candidates(n: int, seed: int) -> list[dict[str, Any]]:
    """N candidates as the search records them (search.Candidate.to_dict's fields): two
    baselines, then search trials; most complete, a few pruned or failed; three finalists."""
    rng = random.Random(seed)
    names = layer_names()
    rows = []
    for number in range(n):
        kind = ("uniform", "global")[number] if number < 2 else "search"
        state = rng.choices(["complete", "pruned", "fail"], weights=[90, 8, 2])[0]
        ratios = {name: round(rng.uniform(0.0, 0.9), 4) for name in names}
        kept = 1.0 - statistics.fmean(ratios.values())
        failed = state == "fail"
        macs = None if failed else int(40_813_184 * kept**2 * rng.uniform(0.9, 1.1))
        proxy = None if failed else round(rng.uniform(0.3, 0.9) * (0.5 + kept / 2), 4)
        finalist = number in (n // 3, n // 2, (2 * n) // 3)
        rows.append(
            {
                "number": number,
                "kind": kind,
                "state": state,
                "criterion": "l2",
                "ratios": ratios,
                "params": None if failed else int(272_474 * kept**2),
                "macs": macs,
                "latency_ms": None if failed else round(3.8 * (0.3 + 0.7 * kept), 3),
                "proxy_score": proxy,
                "accuracy": round(rng.uniform(0.85, 0.9), 4) if finalist else None,
                "test_accuracy": round(rng.uniform(0.84, 0.9), 4) if finalist else None,
                "feasible": macs is not None and macs <= 20_406_592,
                "pareto": rng.random() < 0.02,
                "timings": {
                    "prune_s": round(rng.uniform(0.2, 0.6), 3),
                    "proxy_s": round(rng.uniform(5.0, 20.0), 3),
                    **({"final_s": round(rng.uniform(60, 200), 2)} if finalist else {}),
                },
            }
        )
    return rows


@dataclass(frozen=True)
class Fixture:
    """One populated database: its URL, the job's id and a token of the job's owner."""

    url: str
    job_id: str
    token: str
    n: int


def populate(url: str, n: int, *, seed: int, artifact_dir: Path) -> Fixture:
    """Migrate ``url``; add a key, one succeeded job and ``n`` candidates."""
    migrate(url)
    database = Database(url)
    try:
        with database.session() as session:
            token = create_key(session, OWNER)
            spec = spec_data(n)
            job = Job(owner=OWNER, name=spec["name"], spec=spec, trials_planned=n)
            job.study_name = f"bench-{uuid.uuid4().hex[:8]}"
            job.reference = reference()
            add_job(session, job)
            session.flush()
            for step in (JobStatus.RUNNING, JobStatus.FINALIZING):
                transition(session, job, step)
            job_id = job.id
        rows = candidates(n, seed)
        store = SqlJobStore(database, ArtifactStore(artifact_dir))
        store.record_candidates(job_id, rows)
        best = max(
            (r for r in rows if r["accuracy"] is not None and r["feasible"]),
            key=lambda r: r["accuracy"],
            default=rows[0],
        )
        failed = sum(r["state"] == "fail" for r in rows)
        store.record_progress(
            job_id, trials_done=n, trials_failed=failed, best_score=None, eta_s=None
        )
        store.succeed(job_id, {"best": best, "finalists": 3}, None)
    finally:
        database.dispose()
    return Fixture(url=url, job_id=job_id, token=token, n=n)


@contextmanager
def sqlite_url(folder: Path, n: int) -> Iterator[str]:
    yield f"sqlite:///{folder / f'bench-{n}.db'}"


@contextmanager
def postgres_url(folder: Path, n: int) -> Iterator[str]:
    """A fresh PostgreSQL database of its own, dropped afterwards."""
    del folder
    name = f"ps_bench_{n}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


URLS: dict[str, Callable[[Path, int], Any]] = {"sqlite": sqlite_url, "postgres": postgres_url}


# --- timing ---------------------------------------------------------------------------------


def time_backend(
    backend: str, settings: Settings, log: Callable[[str], None]
) -> dict[tuple[int, str], Timing]:
    """Populate one database per N, serve each, time every (N, read) interleaved."""
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ui-reads-")))
        clients: dict[int, tuple[httpx.Client, Fixture]] = {}
        for n in settings.sizes:
            started = time.perf_counter()
            url = stack.enter_context(URLS[backend](folder, n))
            artifact_dir = folder / f"artifacts-{n}"
            fixture = populate(url, n, seed=settings.seed, artifact_dir=artifact_dir)
            log(f"{backend} N={n}: populated in {time.perf_counter() - started:.1f} s")
            app = create_app(ServiceSettings(database_url=url, artifact_dir=artifact_dir))
            base = stack.enter_context(serve_in_thread(app))
            client = stack.enter_context(
                httpx.Client(
                    base_url=base,
                    headers={"Authorization": f"Bearer {fixture.token}"},
                    timeout=60.0,
                )
            )
            clients[n] = (client, fixture)
        if settings.gc_freeze:
            gc.collect()
            gc.freeze()
        cells = [(n, read) for n in settings.sizes for read in reads()]
        times: dict[tuple[int, str], list[float]] = {(n, r.name): [] for n, r in cells}
        bodies: dict[tuple[int, str], bytes] = {}
        for round_index in range(settings.warmup + settings.rounds):
            shift = round_index % len(cells)
            for n, read in cells[shift:] + cells[:shift]:
                client, fixture = clients[n]
                path = read.path.format(job=fixture.job_id, middle=n // 2)
                started = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000.0
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
                if round_index >= settings.warmup:
                    times[(n, read.name)].append(elapsed)
                bodies[(n, read.name)] = response.content
        log(f"{backend}: timed, 1-min load {os.getloadavg()[0]:.2f}")
        return {
            key: Timing(tuple(values), len(bodies[key]), len(gzip.compress(bodies[key])))
            for key, values in times.items()
        }


# --- reporting ------------------------------------------------------------------------------


def columns(settings: Settings) -> list[str]:
    first, last = settings.sizes[0], settings.sizes[-1]
    return [
        "read",
        *(f"N={n:,} ms (median ± IQR)" for n in settings.sizes),
        *(f"ratio {n:,}/{first:,}" for n in settings.sizes[1:]),
        f"max ms at N={last:,}",
        f"body at N={last:,} (gzip)",
    ]


def table_rows(
    results: dict[tuple[int, str], Timing], settings: Settings, *, bold: bool
) -> list[list[str]]:
    first, last = settings.sizes[0], settings.sizes[-1]
    out = []
    for read in reads():
        base = results[(first, read.name)].median
        ratios = [f"{results[(n, read.name)].median / base:.2f}" for n in settings.sizes[1:]]
        if bold and read.paged:
            ratios = [f"**{ratio}**" for ratio in ratios]
        largest = results[(last, read.name)]
        out.append(
            [
                read.name,
                *(
                    f"{results[(n, read.name)].median:.2f} ± {results[(n, read.name)].iqr:.2f}"
                    for n in settings.sizes
                ),
                *ratios,
                f"{max(largest.times):.0f}",
                f"{human_bytes(largest.size)} ({human_bytes(largest.gzip_size)})",
            ]
        )
    return out


def human_bytes(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} B"


def markdown_table(results: dict[tuple[int, str], Timing], settings: Settings) -> str:
    header = columns(settings)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(results, settings, bold=True)]
    return "\n".join(lines)


def print_table(backend: str, results: dict[tuple[int, str], Timing], settings: Settings) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title=f"job page reads vs candidates ({backend})")
    for column in columns(settings):
        table.add_column(column, justify="left" if column == "read" else "right")
    for row in table_rows(results, settings, bold=False):
        table.add_row(*row)
    console.print(table)


def slow_reads(
    results: dict[tuple[int, str], Timing], settings: Settings, backend: str
) -> list[str]:
    last = settings.sizes[-1]
    return [
        f"- {backend}: {read.name} takes {results[(last, read.name)].median:.0f} ms at "
        f"N={last:,} (over {SLOW_MS:.0f} ms)"
        for read in reads()
        if read.paged and results[(last, read.name)].median > SLOW_MS
    ]


def versions(backends: Sequence[str]) -> dict[str, str]:
    found = {"SQLite": sqlite3.sqlite_version}
    if "postgres" in backends:
        engine = create_engine(POSTGRES_ADMIN_URL)
        try:
            with engine.connect() as connection:
                found["PostgreSQL"] = str(connection.scalar(text("SHOW server_version")))
        finally:
            engine.dispose()
    import fastapi
    import sqlalchemy
    import torch
    import uvicorn

    found["libraries"] = (
        f"fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, "
        f"SQLAlchemy {sqlalchemy.__version__}, httpx {httpx.__version__}, torch {torch.__version__}"
    )
    return found


def machine(backends: Sequence[str]) -> dict[str, str]:
    """The conditions the figures were taken under."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu = found.group(1).strip() if found else cpu
    return {
        "CPU": f"{cpu} ({os.cpu_count()} logical cores)",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        **versions(backends),
        "commit": git_commit(),
    }


def render(
    results: dict[str, dict[tuple[int, str], Timing]], settings: Settings, notes: dict[str, str]
) -> str:
    """The results file: conditions, method, one table per backend, the slow reads."""
    info = machine(list(results)) | notes
    method = [
        f"candidates per job: {', '.join(f'{n:,}' for n in settings.sizes)}; one database per "
        "N (one key, one succeeded job with a 10-layer reference, its N candidates written with "
        "`SqlJobStore.record_candidates`)",
        "server: `create_app` (auth on, no broker: embedded dispatcher) under uvicorn in a "
        "thread of the benchmark's process (`serve_in_thread`); client: httpx over loopback, "
        "keep-alive, bearer key",
        f"{settings.warmup} untimed + {settings.rounds} timed rounds; each round requests every "
        "(N, read) once, order rotated each round; figure: median ± IQR of the request wall "
        "times (ms, `time.perf_counter` around `client.get`)",
        "ratio: median at that N / median at the smallest (bold: reads whose response does "
        "not grow with N); body: bytes as served (uncompressed), in brackets as `gzip.compress` "
        "would make them",
        "gc: the app freezes its start-up heap (service.app's lifespan); an extra "
        f"gc.freeze() once all servers are up: {'yes' if settings.gc_freeze else 'no'}",
    ]
    parts = [
        "# Job page reads vs candidates per job",
        "",
        "Written by `python benchmarks/ui_reads.py`; see benchmarks/README.md.",
        "",
        *(f"- {key}: {value}" for key, value in info.items()),
        *(f"- {line}" for line in method),
        "",
    ]
    slow: list[str] = []
    for backend, timings in results.items():
        points = "points (every candidate)"
        bodies = ", ".join(
            f"N={n:,}: {human_bytes(timings[(n, points)].size)} "
            f"({human_bytes(timings[(n, points)].gzip_size)} gzipped)"
            for n in settings.sizes
        )
        parts += [
            f"## {backend}",
            "",
            markdown_table(timings, settings),
            "",
            f"/points body: {bodies}.",
            "",
        ]
        slow += slow_reads(timings, settings, backend)
    parts += [
        f"Paged reads over {SLOW_MS:.0f} ms at the largest N:",
        "",
        *(slow or ["- none"]),
        "",
    ]
    return "\n".join(parts)


# --- command line ---------------------------------------------------------------------------


def parse(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run, writes no file")
    parser.add_argument("--out", type=Path, help=f"results file (default {DEFAULT_OUT})")
    parser.add_argument("--sizes", nargs="+", type=int, help="candidates per job, e.g. 100 10000")
    parser.add_argument("--backends", nargs="+", choices=sorted(URLS))
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() once serving")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else Settings()
    overrides: dict[str, Any] = {
        key: tuple(value) if isinstance(value, list) else value
        for key in ("sizes", "backends", "rounds")
        if (value := getattr(args, key)) is not None
    }
    if args.gc_freeze:
        overrides["gc_freeze"] = True
    settings = replace(settings, **overrides)
    if len(settings.sizes) < 2:
        parser.error("--sizes needs at least two counts (the ratio compares the extremes)")
    settings = replace(settings, sizes=tuple(sorted(settings.sizes)))
    out = args.out if args.out is not None or args.quick else DEFAULT_OUT
    return settings, out


def main(argv: Sequence[str] | None = None) -> int:
    settings, out = parse(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    load_before = os.getloadavg()
    results = {}
    for backend in settings.backends:
        results[backend] = time_backend(backend, settings, log)
        print_table(backend, results[backend], settings)
    load_after = os.getloadavg()
    notes = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "run time": f"{time.perf_counter() - started:.0f} s",
        "1-min load average": f"{load_before[0]:.2f} at start, {load_after[0]:.2f} at end",
    }
    for backend, timings in results.items():
        for line in slow_reads(timings, settings, backend):
            log(line)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(results, settings, notes))
        log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
