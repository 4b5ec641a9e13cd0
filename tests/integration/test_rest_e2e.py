"""The service over REST with real processes: the API server (uvicorn), two Celery workers on
Redis, the jobs and their Optuna studies in PostgreSQL.

- a job end to end on digits: progress, leaderboard with both baselines and measured
  feasibility, best, the bundle loaded back with the reported test accuracy;
- the trials of one job run on both workers;
- cancel stops a running job at its next epoch and keeps what finished; a repeated POST with
  the same Idempotency-Key returns the first job; another owner gets 404 everywhere.
"""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

import pruning
from pruning.data import load_builtin
from tests.integration.jobs import (
    TINY_SPEC,
    Study,
    figures,
    get_job,
    leaderboard,
    named,
    spec,
    trials_logged,
    watch_job,
)
from tests.integration.processes import Api, Stack, WorkerPool, wait_for

pytestmark = pytest.mark.integration

MakeKey = Callable[[str], dict[str, str]]
JOB_TIMEOUT_S = 300.0
# Lifecycle order; polling may miss a short-lived status, never reorder them.
LIFECYCLE = ["queued", "running", "finalizing", "succeeded"]


@pytest.fixture(scope="module")
def study(stack: Stack) -> Iterator[Study]:
    view = Study(stack.database_url)
    yield view
    view.close()


def test_end_to_end_over_rest(
    api: Api, stack: Stack, module_workers: WorkerPool, make_key: MakeKey, tmp_path: Path
) -> None:
    client, alice = api.client, make_key("alice")
    submitted = client.post("/v1/jobs", headers=alice, json=TINY_SPEC)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]
    assert submitted.json()["status"] == "queued"
    assert submitted.json()["progress"]["trials_planned"] == 4

    watch = watch_job(
        client, alice, job_id, timeout=JOB_TIMEOUT_S, interval=0.2, details=stack.tails
    )
    job = watch.last
    assert job["status"] == "succeeded", f"{job['error']}\n{stack.tails()}"
    assert job["error"] is None

    # Lifecycle: every transition recorded, in order, with times; polling saw it run.
    events = job["events"]
    assert [e["to_status"] for e in events] == LIFECYCLE
    assert [e["at"] for e in events] == sorted(e["at"] for e in events)
    seen = watch.statuses()
    assert "running" in seen
    assert seen == [s for s in LIFECYCLE if s in seen], f"statuses out of order: {seen}"

    # Progress: trials done rise from 0 to the plan, never down; a best score appears.
    done = watch.trials_done()
    assert done[0] == 0
    assert done == sorted(done), f"trials_done went down while polling: {done}"
    # Two workers racing for the last trial: exactly one gets it, the plan is met exactly.
    trials_done = job["progress"]["trials_done"]
    assert job["progress"]["trials_planned"] == 4
    assert trials_done == 4, job["progress"]
    assert job["progress"]["fraction"] == 1.0
    assert job["progress"]["best_score"] is not None
    assert 0.0 <= job["progress"]["best_score"] <= 1.0

    # Leaderboard: the three baselines, every candidate complete, feasibility as measured,
    # each candidate's stage: the baselines and the finalist reached the finals.
    reference = job["reference"]
    assert reference is not None and reference["macs"] > 0
    limit = 0.4 * reference["macs"]
    board = leaderboard(client, alice, job_id)
    kinds = [c["kind"] for c in board]
    assert {"uniform", "global", "sensitivity"} <= set(kinds), kinds
    assert kinds.count("uniform") == kinds.count("global") == kinds.count("sensitivity") == 1
    fidelities = [c["fidelity"] for c in board]
    assert fidelities.count("final") == 4, fidelities  # three baselines and one finalist
    assert all(c["rung_score"] is not None for c in board if c["fidelity"] == "final")
    assert len(board) == trials_done
    for candidate in board:
        assert candidate["state"] in ("complete", "pruned"), candidate
        if candidate["state"] == "complete":
            assert candidate["macs"] is not None and candidate["params"] is not None
            assert candidate["feasible"] == (candidate["macs"] <= limit), (candidate, limit)
    feasible = [c for c in board if c["feasible"]]
    assert feasible, "no feasible candidate"
    assert all(c["macs"] <= limit for c in feasible)
    only_feasible = leaderboard(client, alice, job_id, feasible=True)
    assert [c["number"] for c in only_feasible] == [c["number"] for c in feasible]

    # Best: final, feasible, tested on held-out data.
    best_response = client.get(f"/v1/jobs/{job_id}/best", headers=alice)
    assert best_response.status_code == 200, best_response.text
    best = best_response.json()
    assert best["final"] is True
    candidate = best["candidate"]
    assert candidate["feasible"] and candidate["macs"] <= limit
    assert candidate["test_accuracy"] is not None
    assert "bundle" in best["formats"]
    assert set(best["baselines"]) == {"uniform", "global", "sensitivity"}
    assert job["result"]["best"]["number"] == candidate["number"]
    assert job["best_model_available"] is True

    # The bundle, loaded without the service, scores the reported test accuracy.
    download = client.get(
        f"/v1/jobs/{job_id}/best/model", headers=alice, params={"format": "bundle"}
    )
    assert download.status_code == 200, download.text
    assert download.headers["content-type"].startswith("application/zip")
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert {"model.safetensors", "policy.json"} <= set(archive.namelist())
        archive.extractall(folder)
    model = pruning.load_bundle(
        folder,
        lambda: pruning.zoo.build("small_cnn", num_classes=10, in_channels=1, width=8),
    )
    data = TINY_SPEC["data"]
    splits = load_builtin("digits", val_fraction=data["val_fraction"], seed=data["seed"])
    assert splits.test is not None
    accuracy = pruning.evaluate(model, splits.test).accuracy
    assert accuracy == pytest.approx(candidate["test_accuracy"], abs=1e-6)
    # And it is the pruned model: its parameters are those of the best candidate.
    assert sum(p.numel() for p in model.parameters()) == candidate["params"]

    # /metrics, read from the database and the broker by the API: the job's trials and
    # slices in the duration histograms, a heartbeat from each worker process.
    _assert_metrics(api, module_workers, trials_done)


def _assert_metrics(api: Api, workers: WorkerPool, trials_done: int) -> None:
    response = api.client.get("/metrics")
    assert response.status_code == 200, response.text
    samples = {
        family.name: family.samples for family in text_string_to_metric_families(response.text)
    }

    def total(family: str, suffix: str) -> float:
        return sum(s.value for s in samples[family] if s.name == f"{family}{suffix}")

    # Other tests of the session may have run jobs before: at least this one's figures.
    assert total("prunesearch_trial_duration_seconds", "_count") >= trials_done
    assert total("prunesearch_trial_duration_seconds", "_sum") > 0
    kinds = {s.labels["kind"] for s in samples["prunesearch_trial_duration_seconds"]}
    assert {"uniform", "global", "search"} <= kinds
    assert total("prunesearch_final_duration_seconds", "_count") >= 3  # the three baselines
    assert total("prunesearch_slice_duration_seconds", "_count") >= 1
    assert total("prunesearch_slice_trials", "_sum") >= trials_done
    beats = {
        s.labels["worker"]: s.value
        for s in samples["prunesearch_worker_last_heartbeat_timestamp_seconds"]
    }
    names = [worker.name for worker in workers.workers]
    assert set(names) <= set(beats), (names, beats)
    assert all(beats[name] > 0 for name in names)
    assert samples["prunesearch_workers_alive"][0].value >= len(names)
    slices = {s.labels["worker"]: s.value for s in samples["prunesearch_worker_slices"]}
    assert sum(slices.get(name, 0) for name in names) >= 1
    depth = {s.labels["queue"] for s in samples["prunesearch_queue_depth"]}
    assert depth == {"cpu", "cuda"}
    assert samples["prunesearch_broker_up"][0].value == 1
    assert samples["prunesearch_database_up"][0].value == 1


class ActiveTasks:
    """Polls ``celery inspect active`` in a thread: which worker ran which task on what."""

    def __init__(self, broker_url: str, hostnames: list[str]) -> None:
        self.app = Celery("prunesearch-tests", broker=broker_url, set_as_current=False)
        self.hostnames = hostnames
        self.seen: set[tuple[str, str, str]] = set()  # (hostname, task name, job id)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="inspect-active", daemon=True)

    def __enter__(self) -> ActiveTasks:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.app.close()

    def _poll(self) -> None:
        inspect = self.app.control.inspect(destination=self.hostnames, timeout=1.0)
        while not self._stop.is_set():
            try:
                replies: dict[str, list[dict[str, Any]]] = inspect.active() or {}
            except Exception as exc:  # keep polling; reported if nothing was seen
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self._stop.wait(0.5)
                continue
            for hostname, tasks in replies.items():
                for task in tasks:
                    args = task.get("args") or []
                    if args:
                        self.seen.add((hostname, str(task.get("name")), str(args[0])))
            self._stop.wait(0.2)

    def hosts_running(self, task: str, job_id: str) -> set[str]:
        return {host for host, name, job in self.seen if name == task and job == job_id}


def test_trials_of_one_job_run_on_both_workers(
    api: Api, stack: Stack, module_workers: WorkerPool, make_key: MakeKey, study: Study
) -> None:
    client, bob = api.client, make_key("bob")
    workers = module_workers.workers
    assert len(workers) == 2 and all(w.alive() for w in workers), module_workers.tails()
    offsets = [len(w.log_text()) for w in workers]
    body = named(spec(search={"n_trials": 16, "parallelism": 2}), "it-parallel")

    with ActiveTasks(stack.broker_url, [w.name for w in workers]) as active:
        submitted = client.post("/v1/jobs", headers=bob, json=body)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        job = watch_job(client, bob, job_id, timeout=JOB_TIMEOUT_S, details=stack.tails).last
    assert job["status"] == "succeeded", f"{job['error']}\n{stack.tails()}"

    # Both worker processes ran run_slice tasks of this job (celery inspect, by job id).
    hosts = active.hosts_running("workers.run_slice", job_id)
    assert hosts == {w.name for w in workers}, (
        f"run_slice of job {job_id} seen active on {sorted(hosts)} only; all seen: "
        f"{sorted(active.seen)}; inspect errors: {active.errors[:3]}"
    )

    # And both ran trials of its study: Optuna's lines in each worker's log, disjoint,
    # together every finished trial of the study.
    segments = [w.log_text()[offset:] for w, offset in zip(workers, offsets, strict=True)]
    for worker, segment in zip(workers, segments, strict=True):
        assert "Task workers.run_slice[" in segment, worker.tail()
    logged = [trials_logged(segment) for segment in segments]
    trials = study.trials(job["study_name"])
    finished = {t.number for t in trials if t.state in ("COMPLETE", "PRUNED")}
    assert all(logged), f"trials per worker: {logged}\n{module_workers.tails()}"
    assert not (logged[0] & logged[1]), f"a trial ran twice: {logged}"
    assert logged[0] | logged[1] == finished, (logged, study.describe(job["study_name"]))


def test_cancel_idempotency_and_owners(
    api: Api, stack: Stack, module_workers: WorkerPool, make_key: MakeKey, study: Study
) -> None:
    client, carol, mallory = api.client, make_key("carol"), make_key("mallory")
    # Rung items far longer than the test (thousands of steps, an epoch end every few): the
    # job is surely mid-fine-tune when it is cancelled.
    body = named(
        spec(
            search={"n_trials": 6, "parallelism": 2},
            finetune={"rung_candidates": 3, "rungs": 1, "rung_steps": 20000},
        ),
        "it-cancel",
    )
    key = {"Idempotency-Key": "it-cancel-1"}
    first = client.post("/v1/jobs", headers={**carol, **key}, json=body)
    again = client.post("/v1/jobs", headers={**carol, **key}, json=body)
    assert (first.status_code, again.status_code) == (202, 200), (first.text, again.text)
    job_id = first.json()["id"]
    assert again.json()["id"] == job_id
    listed = client.get("/v1/jobs", headers=carol).json()
    assert [item["id"] for item in listed["items"]] == [job_id], "a replay made a second job"

    running = watch_job(
        client,
        carol,
        job_id,
        until=lambda j: j["status"] == "running" and j["progress"]["stage"] == "rung-1",
        timeout=JOB_TIMEOUT_S,
        what="the job in its first rung",
        details=stack.tails,
    ).last
    assert running["status"] == "running", running
    study_name = running["study_name"]
    board = leaderboard(client, carol, job_id)
    before = {c["number"]: c for c in board if c["state"] == "complete"}
    assert before, "no finished candidate before the cancel"
    done_before = sum(t.state in ("COMPLETE", "PRUNED") for t in study.trials(study_name))

    cancel = client.delete(f"/v1/jobs/{job_id}", headers=carol)
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["cancel_requested"] is True

    # Stopped at the next epoch: a bounded wait of many epochs' time.
    job = watch_job(
        client,
        carol,
        job_id,
        timeout=30.0,
        interval=0.25,
        what="the cancelled job to stop",
        details=lambda: study.describe(study_name) + "\n" + stack.tails(),
    ).last
    assert job["status"] == "cancelled", job
    assert job["events"][-1]["to_status"] == "cancelled"

    # The job is cancelled when the first runner stops; the other one's trial stops at its
    # next epoch too. Then nothing runs on: a worker reads the flag at most a second late
    # (at an epoch's end or a trial's start), so each finished at most the trial in flight
    # and one more; and everything finished before is kept as it was.
    wait_for(
        lambda: not study.running(study_name),
        timeout=30.0,
        what="the trials in flight to stop after the cancel",
        on_timeout=lambda: study.describe(study_name),
    )
    trials = study.trials(study_name)
    done_after = sum(t.state in ("COMPLETE", "PRUNED") for t in trials)
    assert done_after == done_before == 6, study.describe(study_name)

    # The rung items in flight stopped mid-fine-tune: no result, their claims released.
    # The other worker's item stops at its next epoch end (the flag is read every second):
    # wait, bounded, for its claim to be released too.
    def released() -> dict[str, Any] | None:
        attrs = study.attrs(study_name)
        claims = [v for k, v in attrs.items() if k.startswith("claim:")]
        return attrs if all(v == 0.0 for v in claims) else None

    attrs = wait_for(
        released,
        timeout=30.0,
        what="every rung claim released after the cancel",
        on_timeout=lambda: str(study.attrs(study_name)),
    )
    assert not [k for k in attrs if k.startswith("rung:")], sorted(attrs)
    after = {c["number"]: c for c in leaderboard(client, carol, job_id)}
    for number, candidate in before.items():
        assert number in after, f"candidate {number} lost by the cancel"
        assert figures(after[number]) == figures(candidate)
    assert client.delete(f"/v1/jobs/{job_id}", headers=carol).status_code == 409

    # Another owner: 404 on the job, its leaderboard, best, model, cancel, and an artifact.
    weights = safetensors.torch.save({"weight": torch.zeros(4, 4)})
    upload = client.post(
        "/v1/artifacts",
        headers=carol,
        files={"file": ("w.safetensors", weights)},
        data={"kind": "weights"},
    )
    assert upload.status_code == 201, upload.text
    artifact = f"/v1/artifacts/{upload.json()['id']}"
    assert client.get(artifact, headers=carol).status_code == 200
    for path in ("", "/leaderboard", "/best", "/best/model"):
        response = client.get(f"/v1/jobs/{job_id}{path}", headers=mallory)
        assert response.status_code == 404, (path, response.text)
    assert client.delete(f"/v1/jobs/{job_id}", headers=mallory).status_code == 404
    assert client.get(artifact, headers=mallory).status_code == 404
    assert client.get("/v1/jobs", headers=mallory).json()["total"] == 0
    assert get_job(client, carol, job_id)["status"] == "cancelled"
