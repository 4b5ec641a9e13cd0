"""Whole jobs through the EmbeddedDispatcher: the chain of tasks in a thread pool."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy.exc
import torch
from optuna.trial import TrialState

from pruning import load_bundle, zoo
from search import Candidate, SearchSpec
from tests.specs import tiny
from tests.workers.conftest import OPTIONS
from tests.workers.memory_store import MemoryStore
from workers import PREPARE, RUN_SLICE, EmbeddedDispatcher, JobTicket, dispatch
from workers import _session_cache as session_cache

Submit = Callable[..., str]
JOB_TIMEOUT_S = 600


@pytest.fixture
def embedded(store: MemoryStore) -> Iterator[EmbeddedDispatcher]:
    dispatcher = EmbeddedDispatcher(store, OPTIONS, sweep_every_s=None)
    yield dispatcher
    dispatcher.shutdown(wait=True)


def test_a_job_runs_to_success_with_its_bundle_and_leaderboard(
    store: MemoryStore, embedded: EmbeddedDispatcher, submit: Submit
) -> None:
    # Two slices at once on one embedded worker: they take turns on the same study.
    job_id = submit(tiny(search={"parallelism": 2}))

    embedded.enqueue(PREPARE, job_id)
    assert embedded.join(JOB_TIMEOUT_S)

    job = store.job(job_id)
    assert job.status == "succeeded", job.error
    assert store.history(job_id) == ["queued", "running", "finalizing", "succeeded"]
    planned = SearchSpec.parse(tiny()).search.n_trials
    assert job.progress["trials_done"] == planned
    candidates = job.candidates
    assert sorted(candidates) == list(range(planned))
    kinds = [c["kind"] for c in candidates.values()]
    assert kinds.count("uniform") == kinds.count("global") == kinds.count("sensitivity") == 1
    assert {c["fidelity"] for c in candidates.values() if c["kind"] != "search"} == {"final"}
    for baseline in (c for c in candidates.values() if c["kind"] != "search"):
        assert baseline["accuracy"] is not None and baseline["test_accuracy"] is not None

    assert job.result is not None and "leaderboard" not in job.result
    best = job.result["best"]
    assert best["feasible"] and candidates[best["number"]] == best
    assert job.best_artifact is not None
    folder = store.artifact_path("alice", job.best_artifact)
    assert (folder / "model.safetensors").is_file() and (folder / "policy.json").is_file()
    model = load_bundle(
        folder, lambda: zoo.build("small_cnn", num_classes=10, in_channels=1, width=8)
    )
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


class CancelAfterFirstCandidate(MemoryStore):
    """A user presses cancel as soon as the first candidate shows up."""

    def record_candidates(self, job_id: str, candidates: Sequence[Candidate]) -> None:
        super().record_candidates(job_id, candidates)
        self.request_cancel(job_id)


def test_cancel_stops_the_job_and_keeps_finished_candidates(
    tmp_path: Path, trained_reference: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Poll the flag at every check, so the test knows where the search stops.
    monkeypatch.setattr(session_cache, "CANCEL_POLL_S", 0.0)
    store = CancelAfterFirstCandidate(tmp_path, f"sqlite:///{tmp_path / 'optuna.db'}")
    job_id = store.submit(tiny())
    store.reference_path(job_id).parent.mkdir(parents=True)
    store.reference_path(job_id).write_bytes(trained_reference.read_bytes())
    dispatcher = EmbeddedDispatcher(store, OPTIONS, sweep_every_s=None)

    dispatcher.enqueue(PREPARE, job_id)
    assert dispatcher.join(JOB_TIMEOUT_S)
    dispatcher.shutdown()

    job = store.job(job_id)
    assert job.status == "cancelled"
    assert sorted(job.candidates) == [0]
    study = optuna.load_study(study_name=f"job-{job_id}", storage=store.storage_url)
    trials = study.get_trials()
    assert trials[0].state in (TrialState.COMPLETE, TrialState.PRUNED)  # kept
    assert trials[1].state == TrialState.FAIL  # stopped before it began


class FlakyStore(MemoryStore):
    """``load`` raises the given errors, one per call, then works."""

    def __init__(self, *args: Any, errors: Sequence[Exception], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.errors = list(errors)
        self.loads = 0

    def load(self, job_id: str) -> JobTicket:
        self.loads += 1
        if self.errors:
            raise self.errors.pop(0)
        return super().load(job_id)


def _lost_connection() -> Exception:
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionError("server closed"))


def test_an_unexpected_error_fails_the_job_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore(tmp_path, "sqlite://", errors=[ValueError("corrupt row")])
    job_id = store.submit(tiny())
    store.start(job_id)
    dispatcher = EmbeddedDispatcher(store, OPTIONS, sweep_every_s=None)

    with caplog.at_level(logging.ERROR, logger="workers.dispatch"):
        dispatcher.enqueue(RUN_SLICE, job_id)
        assert dispatcher.join(60)
    dispatcher.shutdown()

    job = store.job(job_id)
    assert job.status == "failed"
    assert job.error is not None
    assert "internal error in workers.run_slice: ValueError: corrupt row" in job.error
    assert "corrupt row" in caplog.text


def test_a_transient_error_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "backoff_s", lambda retries: 0.0)
    store = FlakyStore(tmp_path, "sqlite://", errors=[_lost_connection(), _lost_connection()])
    job_id = store.submit(tiny())
    store.request_cancel(job_id)  # so that the slice, once it loads the job, ends at once
    dispatcher = EmbeddedDispatcher(store, OPTIONS, sweep_every_s=None)

    dispatcher.enqueue(RUN_SLICE, job_id)
    assert dispatcher.join(60)
    dispatcher.shutdown()

    assert store.loads == 4  # two failed, the task's, the hand-on's look at the ended job
    assert store.job(job_id).status == "cancelled"


def test_after_shutdown_nothing_is_queued(store: MemoryStore) -> None:
    dispatcher = EmbeddedDispatcher(store, OPTIONS, sweep_every_s=0.01)
    dispatcher.shutdown(wait=True)
    job_id = store.submit(tiny())

    dispatcher.enqueue(PREPARE, job_id)

    assert dispatcher.join(1)
    assert store.job(job_id).status == "queued"  # left for the sweeper of the next process


def test_a_task_with_a_countdown_starts_late_and_join_waits_for_it(store: MemoryStore) -> None:
    job_id = store.submit(tiny())
    store.request_cancel(job_id)  # the slice ends as soon as it reads the job
    dispatcher = EmbeddedDispatcher(store, OPTIONS, sweep_every_s=None)
    try:
        dispatcher.enqueue(RUN_SLICE, job_id, countdown_s=0.5)
        assert dispatcher.queue_depths()["cpu"] == 1
        assert store.job(job_id).status == "queued"  # not yet started

        assert dispatcher.join(30)
        assert store.job(job_id).status == "cancelled"
        assert dispatcher.queue_depths()["cpu"] == 0
    finally:
        dispatcher.shutdown()


def test_shutdown_drops_a_task_still_counting_down(store: MemoryStore) -> None:
    job_id = store.submit(tiny())
    dispatcher = EmbeddedDispatcher(store, OPTIONS, sweep_every_s=None)
    dispatcher.enqueue(PREPARE, job_id, countdown_s=60)

    dispatcher.shutdown(wait=True)

    assert dispatcher.join(1)
    assert dispatcher.queue_depths() == {"cpu": 0, "cuda": 0}
    assert store.job(job_id).status == "queued"  # left for the sweeper of the next process


def test_unknown_task_names_are_refused(store: MemoryStore) -> None:
    dispatcher = EmbeddedDispatcher(store, OPTIONS, sweep_every_s=None)
    with pytest.raises(ValueError, match="unknown task"):
        dispatcher.enqueue("workers.nope", "x")
    dispatcher.shutdown()


def test_the_embedded_sweeper_runs_periodically(store: MemoryStore, clock: Any) -> None:
    # A spec that fails fast when the restart prepares it again.
    job_id = store.submit(tiny(model={"zoo": "no_such_net"}))
    store.start(job_id)
    clock.now += OPTIONS.stale_after_s + 1
    dispatcher = EmbeddedDispatcher(store, OPTIONS, sweep_every_s=0.05)
    try:
        deadline = time.monotonic() + 30
        while "queued" not in store.history(job_id)[1:] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        dispatcher.shutdown(wait=True)
    _, note, _ = next(e for e in store.job(job_id).events[1:] if e[0] == "queued")
    assert note == "runner vanished; restarted"
