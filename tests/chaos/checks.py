"""What every chaos scenario asserts once its job is over, and the waits that place a
fault in the middle of a job."""

from __future__ import annotations

import functools
import hashlib
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from tests.chaos.cluster import RECOVERY_S, Cluster
from tests.integration.jobs import (
    FINAL,
    Study,
    figures,
    get_job,
    leaderboard,
    rung_item_in_progress,
    seconds_per_step,
    task_in_progress,
    watch_job,
)
from tests.integration.processes import Process, wait_for
from tests.specs import tiny

N_TRIALS = 6
ITEM_S = 2.5  # a rung item's fine-tune: long enough to land a fault inside one
# The job alone takes well under a minute here; a fault may add a few recoveries.
JOB_BOUND_S = 120.0 + 3 * RECOVERY_S


@functools.cache
def rung_steps() -> int:
    """Rung steps for items of about ITEM_S seconds on this machine, now."""
    return max(20, min(5000, round(ITEM_S / seconds_per_step())))


def chaos_spec(name: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """The tiny digits job (tests/specs.py): six screened candidates on two slices, then
    one rung of the baselines and up to three searched candidates, each item a few seconds
    of fine-tuning (where a search spends its time, so where a fault lands), with
    ``sections`` overriding it."""
    body = tiny(
        search={"n_trials": N_TRIALS, "parallelism": 2, "seed": 0},
        finetune={
            "rung_candidates": 3,
            "rungs": 1,
            "rung_steps": rung_steps(),
            "final_epochs": 2,
            "finalists": 1,
        },
    )
    body["name"] = name
    for section, values in sections.items():
        body[section] = {**body[section], **values}
    return body


@dataclass
class Job:
    """A job of the scenario, and what it takes to look at it."""

    cluster: Cluster
    headers: dict[str, str]
    id: str
    study_name: str
    planned: int

    @property
    def client(self) -> httpx.Client:
        return self.cluster.client

    def get(self) -> dict[str, Any]:
        return get_job(self.client, self.headers, self.id)

    def study(self) -> Study:
        return Study(self.cluster.postgres.url)

    def describe(self) -> str:
        view = self.study()
        try:
            trials = view.describe(self.study_name)
        except Exception as exc:  # the database may be the fault
            trials = f"(trials unreadable: {exc})"
        finally:
            view.close()
        return f"{trials}\n{self.cluster.tails()}"

    def wait(self, until: Callable[[dict[str, Any]], bool], what: str, timeout: float) -> Any:
        return watch_job(
            self.client,
            self.headers,
            self.id,
            until=until,
            timeout=timeout,
            what=what,
            interval=0.2,
            details=self.describe,
        ).last

    def finished(self) -> dict[int, dict[str, Any]]:
        """The candidates finished so far, by number."""
        board = leaderboard(self.client, self.headers, self.id)
        return {c["number"]: c for c in board if c["state"] in ("complete", "pruned")}


def submit(cluster: Cluster, headers: dict[str, str], body: dict[str, Any]) -> Job:
    response = cluster.client.post("/v1/jobs", headers=headers, json=body)
    assert response.status_code == 202, response.text
    job = response.json()
    return Job(cluster, headers, job["id"], job["study_name"], body["search"]["n_trials"])


def busy_worker(cluster: Cluster, task: str) -> Process | None:
    """The worker whose log shows ``workers.<task>`` in progress (the latest one)."""
    busy = [w for w in cluster.workers if task_in_progress(w.log_text(), task)]
    return busy[-1] if busy else None


@dataclass
class MidWork:
    """A rung item under way, the worker training it, and the candidates finished
    before the fault."""

    number: int
    worker: Process
    before: dict[int, dict[str, Any]]


def wait_mid_rung(job: Job) -> MidWork:
    """Wait until screening is done and a worker is inside a rung item's fine-tune (its
    log shows the item started and not finished, and the study holds its claim)."""
    view = job.study()

    def mid_rung() -> MidWork | None:
        # The logs first: the study's tables exist once a worker got that far.
        busy = [(w, rung_item_in_progress(w.log_text(), job.id)) for w in job.cluster.workers]
        busy = [(w, n) for w, n in busy if n is not None]
        if not busy:
            return None
        before = job.finished()
        attrs = view.attrs(job.study_name)
        for worker, number in busy:
            if f"rung:1:{number}" not in attrs and f"claim:rung:1:{number}" in attrs:
                return MidWork(number, worker, before)
        return None

    try:
        found: MidWork = wait_for(
            mid_rung,
            timeout=JOB_BOUND_S,
            interval=0.05,
            what="a rung item under way",
            on_timeout=job.describe,
        )
    finally:
        view.close()
    return found


def wait_finalizing(job: Job) -> tuple[Process, dict[int, dict[str, Any]]]:
    """Wait until the job is finalizing on a worker; that worker and the candidates."""

    def finalizing() -> tuple[Process, dict[int, dict[str, Any]]] | None:
        if job.get()["status"] != "finalizing":
            return None
        victim = busy_worker(job.cluster, "finalize")
        return None if victim is None else (victim, job.finished())

    found: tuple[Process, dict[int, dict[str, Any]]] = wait_for(
        finalizing,
        timeout=JOB_BOUND_S,
        interval=0.1,
        what="the job finalizing on a worker",
        on_timeout=job.describe,
    )
    return found


def check_after(
    job: Job,
    *,
    expect: str,
    before: dict[int, dict[str, Any]],
    within_s: float = JOB_BOUND_S,
) -> dict[str, Any]:
    """What every scenario asserts: the job ends ``expect`` within ``within_s``; nothing
    finished before the fault changed or vanished; every artifact's sha256 matches its row
    and nothing half-written is kept; the best bundle loads; no trial is left RUNNING; a
    job that succeeded did exactly its planned trials."""
    last = job.wait(lambda j: j["status"] in FINAL, f"the job to end {expect}", within_s)
    assert last["status"] == expect, f"{last['status']}: {last['error']}\n{job.describe()}"

    after = job.finished()
    for number, candidate in before.items():
        assert number in after, f"candidate {number} vanished\n{job.describe()}"
        assert figures(after[number]) == figures(candidate), f"candidate {number} changed"

    check_artifacts(job.cluster)
    view = job.study()
    try:
        # A cancelled job's dead trials are failed by the sweeper once their grace passed.
        wait_for(
            lambda: not view.running(job.study_name),
            timeout=RECOVERY_S * 2,
            what="no trial RUNNING",
            on_timeout=job.describe,
        )
        trials = view.trials(job.study_name)
    finally:
        view.close()
    if expect == "succeeded":
        done = [t.number for t in trials if t.state in ("COMPLETE", "PRUNED")]
        assert len(done) == job.planned, f"trials done {done}\n{job.describe()}"
        assert last["progress"]["trials_done"] == job.planned
        assert not [t for t in trials if t.state == "WAITING"], job.describe()
        check_bundle(job)
    return last


def check_artifacts(cluster: Cluster) -> None:
    """Every artifact row has its whole file (sha256 and size as recorded), and every
    file in the store's id folders is whole (a row's, or a complete archive)."""
    view = Study(cluster.postgres.url)
    try:
        with view.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, sha256, size, path FROM ps_artifacts"))
            recorded = {row.path: row for row in rows}
    finally:
        view.close()
    root = cluster.stack.artifact_dir
    for path, row in recorded.items():
        data = (root / path).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (row.sha256, row.size), path
    for file in root.glob("??/*"):
        relpath = file.relative_to(root).as_posix()
        if relpath not in recorded:  # kept before its row was committed: must be whole
            with zipfile.ZipFile(file) as archive:
                assert archive.testzip() is None, relpath


def check_bundle(job: Job) -> None:
    """The best bundle downloads, and loads without this project's search stack."""
    from pruning import load_bundle, zoo

    response = job.client.get(
        f"/v1/jobs/{job.id}/best/model", headers=job.headers, params={"format": "bundle"}
    )
    assert response.status_code == 200, response.text
    folder = job.cluster.root / "bundles" / job.id
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        archive.extractall(folder)
    kwargs = tiny()["model"]["kwargs"]
    model = load_bundle(
        Path(folder), lambda: zoo.build("small_cnn", num_classes=10, in_channels=1, **kwargs)
    )
    assert sum(p.numel() for p in model.parameters()) > 0
