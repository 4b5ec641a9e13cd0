"""Helpers of the integration tests: job specs, polling a job over REST, reading the job's
Optuna study straight from PostgreSQL, and what the worker logs say."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
import torch
from sqlalchemy import Engine, create_engine, text

from service.settings import normalize_database_url

FINAL = ("succeeded", "failed", "cancelled")

# The spec of the brief: digits, a small CNN, a budget of 40 % of the MACs.
TINY_SPEC: dict[str, Any] = {
    "name": "it-digits",
    "model": {
        "zoo": "small_cnn",
        "kwargs": {"num_classes": 10, "in_channels": 1, "width": 8},
        "pretrain_epochs": 6,
    },
    "data": {"source": "digits", "val_fraction": 0.1, "seed": 0},
    "budget": {"max_macs": 0.4},
    "search": {"n_trials": 4, "parallelism": 2, "seed": 0, "search_split": 300},
    "finetune": {
        "rung_candidates": 1,
        "rungs": 1,
        "rung_steps": 8,
        "final_epochs": 1,
        "finalists": 1,
    },
}


def spec(**sections: dict[str, Any]) -> dict[str, Any]:
    """:data:`TINY_SPEC` with some keys of its sections replaced: ``spec(search={...})``
    (the name: :func:`named`)."""
    body = copy.deepcopy(TINY_SPEC)
    for section, values in sections.items():
        body[section] = {**body[section], **values}
    return body


def named(body: dict[str, Any], name: str) -> dict[str, Any]:
    return {**body, "name": name}


@dataclass
class JobWatch:
    """What polling a job saw: every answer of GET /v1/jobs/{id}, in order."""

    job_id: str
    seen: list[dict[str, Any]]

    @property
    def last(self) -> dict[str, Any]:
        return self.seen[-1]

    def statuses(self) -> list[str]:
        out: list[str] = []
        for job in self.seen:
            if not out or out[-1] != job["status"]:
                out.append(job["status"])
        return out

    def trials_done(self) -> list[int]:
        return [job["progress"]["trials_done"] for job in self.seen]


def get_job(client: httpx.Client, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def watch_job(
    client: httpx.Client,
    headers: dict[str, str],
    job_id: str,
    *,
    until: Callable[[dict[str, Any]], bool] = lambda job: job["status"] in FINAL,
    timeout: float,
    what: str = "the job to finish",
    interval: float = 0.5,
    details: Callable[[], str] | None = None,
    on_poll: Callable[[dict[str, Any]], None] | None = None,
) -> JobWatch:
    """Poll the job until ``until(job)`` holds; fail after ``timeout`` s with the last
    answer (and ``details()``, e.g. process logs)."""
    watch = JobWatch(job_id, [])
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(client, headers, job_id)
        watch.seen.append(job)
        if on_poll is not None:
            on_poll(job)
        if until(job):
            return watch
        if time.monotonic() >= deadline:
            last = json.dumps(
                {k: job.get(k) for k in ("status", "progress", "error", "events")},
                indent=1,
                default=str,
            )
            extra = details() if details is not None else ""
            pytest.fail(
                f"timed out after {timeout:.0f} s waiting for {what} (job {job_id}); "
                f"statuses seen {watch.statuses()}; last answer:\n{last}\n{extra}"
            )
        time.sleep(interval)


def leaderboard(
    client: httpx.Client, headers: dict[str, str], job_id: str, **params: Any
) -> list[dict[str, Any]]:
    response = client.get(
        f"/v1/jobs/{job_id}/leaderboard", headers=headers, params={"limit": 1000, **params}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"]), "the leaderboard did not fit one page"
    items: list[dict[str, Any]] = body["items"]
    return items


# The figures of a finished candidate that nothing after its trial may change.
TRIAL_FIGURES = ("kind", "state", "criterion", "ratios", "params", "macs", "latency_ms")


def figures(candidate: dict[str, Any]) -> dict[str, Any]:
    out = {key: candidate[key] for key in TRIAL_FIGURES}
    out["proxy_score"] = candidate["proxy_score"]
    out["feasible"] = candidate["feasible"]
    return out


# --- the job's Optuna study, read with SQL (no Optuna storage: nothing it could change) ---


@dataclass(frozen=True)
class Trial:
    number: int
    state: str
    start: datetime | None
    complete: datetime | None
    system_attrs: dict[str, Any]
    user_attrs: dict[str, Any]
    params: dict[str, float]

    @property
    def retried_from(self) -> int | None:
        value = self.system_attrs.get("failed_trial")
        return None if value is None else int(value)


class Study:
    """Read-only view of one Optuna study in the service's PostgreSQL database."""

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = create_engine(normalize_database_url(database_url))

    def close(self) -> None:
        self.engine.dispose()

    def trials(self, study_name: str) -> list[Trial]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT t.trial_id, t.number, t.state, t.datetime_start, "
                    "t.datetime_complete FROM trials t JOIN studies s USING (study_id) "
                    "WHERE s.study_name = :name ORDER BY t.number"
                ),
                {"name": study_name},
            ).all()
            ids = [row.trial_id for row in rows]
            system = self._attrs(connection, "trial_system_attributes", ids)
            user = self._attrs(connection, "trial_user_attributes", ids)
            params: dict[int, dict[str, float]] = {}
            if ids:
                for row in connection.execute(
                    text(
                        "SELECT trial_id, param_name, param_value FROM trial_params "
                        "WHERE trial_id = ANY(:ids)"
                    ),
                    {"ids": ids},
                ):
                    params.setdefault(row.trial_id, {})[row.param_name] = float(row.param_value)
        return [
            Trial(
                number=row.number,
                state=str(row.state).rsplit(".", 1)[-1],
                start=row.datetime_start,
                complete=row.datetime_complete,
                system_attrs=system.get(row.trial_id, {}),
                user_attrs=user.get(row.trial_id, {}),
                params=params.get(row.trial_id, {}),
            )
            for row in rows
        ]

    @staticmethod
    def _attrs(connection: Any, table: str, ids: list[int]) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        if not ids:
            return out
        rows = connection.execute(
            text(f"SELECT trial_id, key, value_json FROM {table} WHERE trial_id = ANY(:ids)"),
            {"ids": ids},
        )
        for row in rows:
            out.setdefault(row.trial_id, {})[row.key] = json.loads(row.value_json)
        return out

    def attrs(self, study_name: str) -> dict[str, Any]:
        """The study's user attributes: the later stages' results and claims."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT a.key, a.value_json FROM study_user_attributes a "
                    "JOIN studies s USING (study_id) WHERE s.study_name = :name"
                ),
                {"name": study_name},
            ).all()
        return {row.key: json.loads(row.value_json) for row in rows}

    def running(self, study_name: str) -> list[int]:
        return [t.number for t in self.trials(study_name) if t.state == "RUNNING"]

    def describe(self, study_name: str) -> str:
        return "trials: " + ", ".join(
            f"{t.number}:{t.state}" + (f"(retry of {t.retried_from})" if t.retried_from else "")
            for t in self.trials(study_name)
        )


# --- worker logs ------------------------------------------------------------------------

_OPTUNA_FINISHED = re.compile(r"Trial (\d+) (?:finished|pruned)")


def trials_logged(log_text: str) -> set[int]:
    """Numbers of the trials a worker's log says finished there (Optuna's own lines)."""
    return {int(number) for number in _OPTUNA_FINISHED.findall(log_text)}


def task_in_progress(log: str, task: str = "run_slice") -> str | None:
    """The id of the ``workers.<task>`` task the worker's log shows received and not yet
    ended."""
    received = re.findall(rf"Task workers\.{task}\[([0-9a-f-]+)\] received", log)
    if not received:
        return None
    task_id = received[-1]
    ended = re.search(rf"Task workers\.{task}\[{task_id}\] (succeeded|failed|raised|retry)", log)
    return None if ended else task_id


def slice_in_progress(log: str) -> str | None:
    """The id of the run_slice task the worker's log shows received and not yet ended."""
    return task_in_progress(log, "run_slice")


# --- sizing jobs to this machine ----------------------------------------------------------


def seconds_per_step() -> float:
    """One rung fine-tune step here and now (one thread, like a worker): a small CNN on
    digits, distilled from a second one, as a rung trains."""
    from pruning import finetune, zoo
    from pruning.data import load_builtin

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        splits = load_builtin("digits", val_fraction=0.1, seed=0)
        teacher = zoo.build("small_cnn", num_classes=10, in_channels=1, width=8)
        model = zoo.build("small_cnn", num_classes=10, in_channels=1, width=5)
        finetune(model, splits.train, epochs=1, max_batches=5, teacher=teacher)  # warm-up
        start = time.perf_counter()
        finetune(model, splits.train, epochs=2, max_batches=20, teacher=teacher)
        return (time.perf_counter() - start) / 40
    finally:
        torch.set_num_threads(threads)


def rung_item_in_progress(log: str, job_id: str) -> int | None:
    """The rung item of ``job_id`` a worker's log shows started and not yet finished (a
    worker's log holds every job it worked on; each line names its job)."""
    prefix = rf"\[job={job_id} trial=\d+\]: rung-1 of trial"
    started = re.findall(rf"{prefix} (\d+) started", log)
    if not started:
        return None
    number = int(started[-1])
    return None if re.search(rf"{prefix} {number} finished", log) else number
