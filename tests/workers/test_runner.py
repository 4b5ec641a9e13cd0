"""The job functions against a real (in-memory) JobStore and SQLite Optuna storage."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy.exc
from optuna.trial import TrialState

from search import SearchSession, SearchSpec, prepare
from tests.specs import tiny
from tests.workers.conftest import OPTIONS, Clock, RecordingDispatcher
from tests.workers.memory_store import MemoryStore
from workers import FINALIZE, PREPARE, RUN_SLICE, finalize_job, prepare_job, run_slice, sweep
from workers._session_cache import study_storage

Submit = Callable[..., str]


def _study(store: MemoryStore, job_id: str) -> optuna.Study:
    return optuna.load_study(study_name=store.load(job_id).study_name, storage=store.storage_url)


def test_prepare_queues_baselines_records_reference_and_starts_parallel_slices(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    job_id = submit(tiny(search={"parallelism": 2}), device_kind="cuda")

    prepare_job(store, recorder, job_id, OPTIONS)

    job = store.job(job_id)
    assert job.status == "running"
    assert job.reference is not None and job.reference["macs"] > 0
    assert job.progress["trials_done"] == 0  # the first heartbeat
    assert recorder.calls == [(RUN_SLICE, job_id, "cuda")] * 2
    study = _study(store, job_id)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    kinds = sorted(t.user_attrs["kind"] for t in waiting)
    # The baselines, then warm starts near them up to the plan (6 trials in tiny).
    assert kinds == ["global", "search", "search", "search", "sensitivity", "uniform"]
    assert set(study.user_attrs["sensitivity"]["groups"]) == {
        g["name"] for g in job.reference["layers"]
    } & set(study.user_attrs["sensitivity"]["groups"])

    # A redelivered prepare finds the baselines queued already.
    prepare_job(store, recorder, job_id, OPTIONS)
    assert len(_study(store, job_id).get_trials(states=(TrialState.WAITING,))) == 6


def test_unreachable_budget_fails_the_job_before_any_trial(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    job_id = submit(tiny(budget={"max_macs": 0.001}))

    prepare_job(store, recorder, job_id, OPTIONS)

    job = store.job(job_id)
    assert job.status == "failed"
    assert job.error is not None
    assert "smallest achievable" in job.error and "budget.max_macs" in job.error
    assert recorder.calls == []
    assert optuna.get_all_study_summaries(store.storage_url) == []


@pytest.mark.parametrize(
    ("model", "words"),
    [
        ({"zoo": "no_such_net"}, "model"),
        ({"zoo": "small_cnn", "weights": "not-an-artifact"}, "no artifact 'not-an-artifact'"),
    ],
)
def test_a_spec_that_cannot_be_prepared_fails_with_its_field(
    store: MemoryStore,
    recorder: RecordingDispatcher,
    submit: Submit,
    model: dict[str, Any],
    words: str,
) -> None:
    job_id = submit(tiny(model=model))

    prepare_job(store, recorder, job_id, OPTIONS)

    job = store.job(job_id)
    assert job.status == "failed"
    assert job.error is not None and words in job.error
    assert recorder.calls == []


def test_another_owners_weights_are_not_found(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit, trained_reference: Path
) -> None:
    weights = store.add_artifact("mallory", trained_reference)
    job_id = submit(tiny(model={"weights": weights}), owner="alice")

    prepare_job(store, recorder, job_id, OPTIONS)

    assert store.job(job_id).status == "failed"
    assert f"no artifact {weights!r}" in (store.job(job_id).error or "")


def test_a_slice_of_a_finished_or_cancelled_job_does_nothing(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    done, cancelled = submit(tiny()), submit(tiny())
    store.start(done)
    store.fail(done, "earlier")
    store.request_cancel(cancelled)

    run_slice(store, recorder, done, OPTIONS)
    run_slice(store, recorder, cancelled, OPTIONS)

    assert store.job(done).error == "earlier"
    assert store.job(cancelled).status == "cancelled"
    assert recorder.calls == []


def test_slices_run_trials_record_candidates_and_hand_on(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    job_id = submit(tiny(search={"n_trials": 4}, finetune={"rungs": 0}))
    prepare_job(store, recorder, job_id, OPTIONS)

    run_slice(store, recorder, job_id, OPTIONS)  # 2 of 4 trials: continues
    assert recorder.tasks() == [RUN_SLICE, RUN_SLICE]
    assert sorted(store.job(job_id).candidates) == [0, 1]
    assert store.job(job_id).progress["trials_done"] == 2

    run_slice(store, recorder, job_id, OPTIONS)  # the last two trials: finalize
    assert recorder.tasks() == [RUN_SLICE, RUN_SLICE, FINALIZE]
    assert store.job(job_id).status == "finalizing"
    kinds = {c["kind"] for c in store.job(job_id).candidates.values()}
    assert kinds == {"uniform", "global", "sensitivity", "search"}


def test_slices_share_the_rungs_and_each_rung_item_reaches_the_store(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    job_id = submit(tiny(search={"n_trials": 5}, finetune={"final_epochs": 0}))
    prepare_job(store, recorder, job_id, OPTIONS)
    while store.job(job_id).status == "running":
        run_slice(store, recorder, job_id, OPTIONS)
    assert store.job(job_id).status == "finalizing"
    candidates = store.job(job_id).candidates.values()
    # The three baselines and the distinct best screened candidates (one or two) trained in
    # the one rung; the rest stayed at screening.
    rung = [c for c in candidates if c["fidelity"] == "rung-1"]
    assert {c["kind"] for c in rung} >= {"uniform", "global", "sensitivity", "search"}
    assert 4 <= len(rung) <= 5
    assert all(c["rung_score"] is not None for c in rung)
    assert all(c["rung_score"] is None for c in candidates if c["fidelity"] == "screen")
    # The last rung item's report says the finals come next.
    assert store.job(job_id).progress["stage"] == "final"


def test_two_slices_finishing_together_start_exactly_one_finalize(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    spec = tiny(search={"n_trials": 3}, finetune={"final_epochs": 0, "rungs": 0})
    job_id = submit(spec)
    prepare_job(store, recorder, job_id, OPTIONS)
    _plan_met_elsewhere(store, spec, job_id)

    start = threading.Barrier(2)

    def slice_() -> None:
        start.wait()
        run_slice(store, recorder, job_id, OPTIONS)

    threads = [threading.Thread(target=slice_) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert recorder.tasks().count(FINALIZE) == 1
    assert store.history(job_id).count("finalizing") == 1


def _plan_met_elsewhere(store: MemoryStore, spec: dict[str, Any], job_id: str) -> None:
    """Another process runs every trial of the job's study; the job is still running."""
    prepared = prepare(SearchSpec.parse(spec), reference_weights=store.reference_path(job_id))
    session = SearchSession(
        prepared, storage=store.storage_url, study_name=store.load(job_id).study_name
    )
    session.run_slice()
    assert session.finished() and store.job(job_id).status == "running"


def test_the_finals_wait_for_a_trial_still_running_elsewhere(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    spec = tiny(search={"n_trials": 3}, finetune={"final_epochs": 0, "rungs": 0})
    job_id = submit(spec)
    prepare_job(store, recorder, job_id, OPTIONS)
    _plan_met_elsewhere(store, spec, job_id)
    # A worker is still in a trial (one more than planned: slices can overshoot).
    live = _study(store, job_id).ask()
    recorder.calls.clear()
    recorder.countdowns.clear()

    run_slice(store, recorder, job_id, OPTIONS)

    assert recorder.tasks() == [RUN_SLICE] and recorder.countdowns[0] > 0
    assert store.job(job_id).status == "running"

    _study(store, job_id).tell(live, 0.5)
    run_slice(store, recorder, job_id, OPTIONS)

    assert recorder.tasks() == [RUN_SLICE, FINALIZE]
    assert store.job(job_id).status == "finalizing"


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_a_slice_runs_only_the_trials_the_plan_lacks_counting_those_in_flight(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    spec = tiny(search={"n_trials": 3, "parallelism": 2}, finetune={"final_epochs": 0})
    job_id = submit(spec)
    prepare_job(store, recorder, job_id, OPTIONS)
    storage = study_storage(store.storage_url, OPTIONS)
    study = optuna.load_study(study_name=store.load(job_id).study_name, storage=storage)
    for trial in (study.ask(), study.ask()):  # the two baselines, done elsewhere
        study.tell(trial, 0.5)
    live = study.ask()  # the third and last: in flight on another worker
    recorder.calls.clear()

    run_slice(store, recorder, job_id, OPTIONS)

    # Nothing more to run here: look again later (no fourth trial).
    assert recorder.tasks() == [RUN_SLICE] and recorder.countdowns[-1] > 0
    assert len(_study(store, job_id).get_trials()) == 3
    study.tell(live, 0.5)
    run_slice(store, recorder, job_id, OPTIONS)
    assert recorder.tasks() == [RUN_SLICE, FINALIZE]
    assert len(_study(store, job_id).get_trials()) == 3


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_a_dead_trial_is_failed_after_its_grace_and_its_retry_runs_before_the_finals(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    options = replace(OPTIONS, trial_heartbeat_s=1, trial_grace_s=2)
    spec = tiny(search={"n_trials": 3}, finetune={"final_epochs": 0, "rungs": 0})
    job_id = submit(spec)
    prepare_job(store, recorder, job_id, options)
    _plan_met_elsewhere(store, spec, job_id)
    # A worker took one more trial, beat once and died (the objective had set its kind).
    storage = study_storage(store.storage_url, options)
    study = optuna.load_study(study_name=store.load(job_id).study_name, storage=storage)
    dead = study.ask()
    dead.set_user_attr("kind", "search")
    storage.record_heartbeat(dead._trial_id)  # type: ignore[attr-defined]
    time.sleep(3)
    recorder.calls.clear()

    # Fails the dead trial first, so its retry waits; runs it; then the finals.
    run_slice(store, recorder, job_id, options)

    assert recorder.tasks() == [FINALIZE]
    trials = _study(store, job_id).get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retry) == 1 and retry[0].state in (TrialState.COMPLETE, TrialState.PRUNED)


def test_finalize_with_no_feasible_candidate_fails_with_advice(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    job_id = submit(tiny())
    prepare_job(store, recorder, job_id, OPTIONS)  # baselines queued, none ran
    assert store.begin_finalizing(job_id)

    finalize_job(store, recorder, job_id, OPTIONS)

    job = store.job(job_id)
    assert job.status == "failed"
    assert job.error is not None
    assert "no candidate met the budget" in job.error and "n_trials" in job.error


def test_finalize_runs_only_for_a_finalizing_job(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    job_id = submit(tiny())
    store.start(job_id)
    finalize_job(store, recorder, job_id, OPTIONS)
    assert store.job(job_id).status == "running"


def test_sweep_queues_the_right_task_for_every_quiet_job_and_only_for_those(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit, clock: Clock
) -> None:
    lost, quiet, prepared_quiet, lively, finalizing, cancelled = (
        submit(tiny(search={"parallelism": 2}), device_kind="cuda") for _ in range(6)
    )
    store.begin_running(quiet)  # died while preparing: no study yet
    prepare_job(store, recorder, prepared_quiet, OPTIONS)
    for job_id in (finalizing, cancelled):
        store.start(job_id)
    store.begin_finalizing(finalizing)
    store.request_cancel(cancelled)
    recorder.calls.clear()
    clock.now += OPTIONS.stale_after_s + 1
    store.start(lively)  # beats now
    fresh = submit(tiny(), device_kind="cuda")  # its prepare message is in the queue

    recovered = sweep(store, recorder, OPTIONS)

    assert sorted(recovered) == sorted([lost, quiet, prepared_quiet, finalizing, cancelled])
    assert sorted(recorder.calls) == sorted(
        [
            (PREPARE, lost, "cuda"),  # its message was lost
            (PREPARE, quiet, "cuda"),
            (RUN_SLICE, prepared_quiet, "cuda"),
            (RUN_SLICE, prepared_quiet, "cuda"),  # its parallelism
            (FINALIZE, finalizing, "cuda"),
        ]
    )
    status, note, _ = store.job(quiet).events[-1]
    assert (status, note) == ("queued", "runner vanished; restarted")
    assert store.job(prepared_quiet).status == "running"  # prepared: not prepared again
    assert store.job(cancelled).status == "cancelled"  # nothing ran it to honour the cancel
    assert store.job(lively).status == "running"
    assert store.job(fresh).status == "queued"

    # The tasks queued get a whole stale period before the next sweep queues them again.
    recorder.calls.clear()
    assert sweep(store, recorder, OPTIONS) == []
    assert recorder.calls == []


def test_prepare_is_idempotent(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    job_id = submit(tiny(search={"parallelism": 2}))
    prepare_job(store, recorder, job_id, OPTIONS)
    assert recorder.tasks() == [RUN_SLICE, RUN_SLICE]

    # A second prepare (redelivered, or queued again by the sweeper) adds nothing.
    prepare_job(store, recorder, job_id, OPTIONS)

    assert recorder.tasks() == [RUN_SLICE, RUN_SLICE]
    waiting = _study(store, job_id).get_trials(states=(TrialState.WAITING,))
    # The three baselines and the warm starts that fill the plan, enqueued once.
    assert len(waiting) == SearchSpec.parse(tiny()).search.n_trials
    assert sorted({t.user_attrs["kind"] for t in waiting}) == [
        "global",
        "search",
        "sensitivity",
        "uniform",
    ]


def test_parallelism_is_bounded_by_the_workers_setting(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    job_id = submit(tiny(search={"parallelism": 1_000_000}))

    prepare_job(store, recorder, job_id, replace(OPTIONS, max_parallelism=3))

    assert recorder.tasks() == [RUN_SLICE] * 3


def test_a_cancel_stops_the_slices_being_queued(store: MemoryStore, submit: Submit) -> None:
    job_id = submit(tiny(search={"parallelism": 8}))

    class CancelAfterTwo(RecordingDispatcher):
        def enqueue(self, task: str, job_id: str, **kwargs: Any) -> None:
            super().enqueue(task, job_id, **kwargs)
            if len(self.calls) == 2:
                store.request_cancel(job_id)

    recorder = CancelAfterTwo()
    prepare_job(store, recorder, job_id, OPTIONS)

    assert recorder.tasks() == [RUN_SLICE, RUN_SLICE]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_a_slice_beyond_the_parallelism_ends_its_chain(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    job_id = submit(tiny(search={"parallelism": 1, "n_trials": 4}))
    prepare_job(store, recorder, job_id, OPTIONS)
    recorder.calls.clear()
    # Another worker's trial is in flight: this job may run one slice at a time.
    storage = study_storage(store.storage_url, OPTIONS)
    running = optuna.load_study(study_name=store.load(job_id).study_name, storage=storage).ask()

    run_slice(store, recorder, job_id, OPTIONS)

    assert recorder.calls == []  # no continuation: the duplicate's chain ended
    trials = _study(store, job_id).get_trials()
    assert [t.number for t in trials if t.state == TrialState.RUNNING] == [running.number]
    assert not [t for t in trials if t.state == TrialState.COMPLETE]


def test_a_slice_of_a_queued_job_leaves_it_to_prepare(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    job_id = submit(tiny())

    run_slice(store, recorder, job_id, OPTIONS)

    assert store.job(job_id).status == "queued"
    assert recorder.calls == []


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_sweep_fails_the_dead_trials_of_a_job_that_ended(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    options = replace(OPTIONS, trial_heartbeat_s=1, trial_grace_s=2)
    job_id = submit(tiny())
    prepare_job(store, recorder, job_id, options)
    storage = study_storage(store.storage_url, options)
    study = optuna.load_study(study_name=store.load(job_id).study_name, storage=storage)
    dead = study.ask()
    storage.record_heartbeat(dead._trial_id)  # type: ignore[attr-defined]
    store.fail(job_id, "internal error")  # its slice failed; the trial was left RUNNING
    recorder.calls.clear()
    time.sleep(3)

    sweep(store, recorder, options)

    assert _study(store, job_id).get_trials()[dead.number].state == TrialState.FAIL
    assert recorder.calls == []  # an ended job is not restarted
    assert store.job(job_id).status == "failed"


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_sweep_fails_the_vanished_runners_trial_and_queues_its_retry(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit, clock: Clock
) -> None:
    options = replace(OPTIONS, trial_heartbeat_s=1, trial_grace_s=2)
    job_id = submit(tiny())
    prepare_job(store, recorder, job_id, options)
    # A runner took a trial, beat once, and died.
    storage = study_storage(store.storage_url, options)
    study = optuna.load_study(study_name=store.load(job_id).study_name, storage=storage)
    dead = study.ask()
    storage.record_heartbeat(dead._trial_id)  # type: ignore[attr-defined]
    time.sleep(3)
    clock.now += options.stale_after_s + 1

    assert sweep(store, recorder, options) == [job_id]

    trials = _study(store, job_id).get_trials()
    assert trials[dead.number].state == TrialState.FAIL
    retry = [t for t in trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retry) == 1 and retry[0].state == TrialState.WAITING


def test_a_prepare_cut_short_by_an_outage_is_prepared_by_its_retry(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    job_id = submit(tiny(search={"parallelism": 2}))
    lost = sqlalchemy.exc.OperationalError("UPDATE", {}, ConnectionError("server closed"))
    record = store.record_reference
    calls: list[str] = []

    def flaky(job: str, reference: Any) -> None:
        calls.append(job)
        if len(calls) == 1:
            raise lost
        record(job, reference)

    store.record_reference = flaky  # type: ignore[method-assign]
    with pytest.raises(sqlalchemy.exc.OperationalError):
        prepare_job(store, recorder, job_id, OPTIONS)
    assert store.job(job_id).status == "queued"  # its retry may prepare it

    prepare_job(store, recorder, job_id, OPTIONS)  # the retry

    assert store.job(job_id).status == "running" and store.job(job_id).reference is not None
    assert recorder.tasks() == [RUN_SLICE, RUN_SLICE]


def test_a_cancel_while_the_bundle_is_written_ends_the_job_cancelled(
    store: MemoryStore, recorder: RecordingDispatcher, submit: Submit
) -> None:
    spec = tiny(search={"n_trials": 3}, finetune={"final_epochs": 0, "rungs": 0})
    job_id = submit(spec)
    prepare_job(store, recorder, job_id, OPTIONS)
    _plan_met_elsewhere(store, spec, job_id)
    run_slice(store, recorder, job_id, OPTIONS)
    assert store.job(job_id).status == "finalizing"
    write = store.store_bundle

    def cancelled_meanwhile(job: str, folder: Path) -> str:
        artifact = write(job, folder)
        store.request_cancel(job)  # DELETE arrives while the bundle is being stored
        return artifact

    store.store_bundle = cancelled_meanwhile  # type: ignore[method-assign]
    while store.job(job_id).status == "finalizing":
        finalize_job(store, recorder, job_id, OPTIONS)

    assert store.job(job_id).status == "cancelled"
    assert store.job(job_id).best_artifact is None
