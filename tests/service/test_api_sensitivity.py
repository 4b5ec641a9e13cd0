"""GET /v1/jobs/{id}/sensitivity: the curves the search measured (accuracy against keep
ratio per group), from the job's result once it finished, else from its study while it
runs; 200 with no groups and a message while there is nothing to show."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import optuna
import pytest

from search import stored_sensitivity
from service.jobs import NO_STUDY
from service.jobs._studies import NOT_CHANNEL, NOT_MEASURED
from service.models import Job, JobStatus
from tests.service.factories import ApiEnv, api_env, make_job, spec

# As search.stages._sensitivity.measure_curves stores them: prune ratios and drops.
STORED = {
    "reference_accuracy": 0.9,
    "ratios": [0.25, 0.5, 0.75],
    "groups": {"features.0": [0.0, 0.01, 0.05], "features.3": [0.02, 0.1, 0.4]},
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    root = tmp_path_factory.mktemp("sensitivity-api")
    with api_env(f"sqlite:///{root / 'db.sqlite'}", root / "store") as e:
        yield e


@pytest.fixture(scope="module")
def alice(env: ApiEnv) -> dict[str, str]:
    return env.key("alice")


def _get(env: ApiEnv, path: str, key: dict[str, str], status: int = 200) -> Any:
    response = env.client.get(path, headers=key)
    assert response.status_code == status, response.text
    return response.json()


def _job(env: ApiEnv, status: JobStatus, **fields: Any) -> Job:
    with env.session() as session:
        return make_job(session, "alice", status=status, **fields)


def _expected() -> dict[str, Any]:
    return {
        "reference_accuracy": 0.9,
        "keep_ratios": [1.0, 0.75, 0.5, 0.25],
        "groups": [  # most sensitive first
            {"name": "features.3", "accuracy": [0.9, 0.88, 0.8, 0.5], "mean_drop": 0.52 / 3},
            {"name": "features.0", "accuracy": [0.9, 0.9, 0.89, 0.85], "mean_drop": 0.02},
        ],
        "message": None,
    }


def _close(body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert body["keep_ratios"] == expected["keep_ratios"]
    assert body["message"] is None
    assert [g["name"] for g in body["groups"]] == [g["name"] for g in expected["groups"]]
    for got, want in zip(body["groups"], expected["groups"], strict=True):
        assert got["accuracy"] == pytest.approx(want["accuracy"])
        assert got["mean_drop"] == pytest.approx(want["mean_drop"])


def test_a_finished_job_answers_its_results_curves(env: ApiEnv, alice: dict[str, str]) -> None:
    job = _job(env, JobStatus.SUCCEEDED, result={"sensitivity": STORED})
    _close(_get(env, f"/v1/jobs/{job.id}/sensitivity", alice), _expected())


def test_a_running_job_answers_its_studys_curves(env: ApiEnv, alice: dict[str, str]) -> None:
    job = _job(env, JobStatus.RUNNING)
    study = optuna.create_study(storage=env.settings.database_url, study_name=job.study_name)
    path = f"/v1/jobs/{job.id}/sensitivity"

    before = _get(env, path, alice)
    study.set_user_attr("sensitivity", STORED)  # the key search.runner stores it under
    after = _get(env, path, alice)

    assert before == {
        "reference_accuracy": None,
        "keep_ratios": [],
        "groups": [],
        "message": NOT_MEASURED,
    }
    assert stored_sensitivity(study) == STORED
    _close(after, _expected())


def test_a_queued_job_has_no_study_yet(env: ApiEnv, alice: dict[str, str]) -> None:
    job = _job(env, JobStatus.QUEUED)
    body = _get(env, f"/v1/jobs/{job.id}/sensitivity", alice)
    assert (body["groups"], body["message"]) == ([], NO_STUDY)


def test_unstructured_measures_none(env: ApiEnv, alice: dict[str, str]) -> None:
    job = _job(env, JobStatus.RUNNING, spec_data=spec(search={"granularity": "unstructured"}))
    body = _get(env, f"/v1/jobs/{job.id}/sensitivity", alice)
    assert (body["groups"], body["message"]) == ([], NOT_CHANNEL)


def test_another_owners_job_is_a_404(env: ApiEnv, alice: dict[str, str]) -> None:
    job = _job(env, JobStatus.SUCCEEDED, result={"sensitivity": STORED})
    theirs = _get(env, f"/v1/jobs/{job.id}/sensitivity", env.key("bob"), status=404)
    missing = _get(env, "/v1/jobs/nope/sensitivity", alice, status=404)
    assert theirs == {"detail": f"no job {job.id!r}", "field": None}
    assert missing == {"detail": "no job 'nope'", "field": None}
