"""Per-owner queue limit at POST /v1/jobs: over it, 429 with Retry-After and a message that
names the limit and the counts; nothing stored, nothing queued; replays still answered."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from service.client import TooManyJobs
from service.client._errors import error_from_response
from service.models import JobStatus
from service.settings import Settings
from tests.service.factories import SPEC, ApiEnv, api_env, make_job

QUEUED_LIMIT = 2
RUNNING_LIMIT = 1


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    root = tmp_path_factory.mktemp("queue")
    with api_env(
        f"sqlite:///{root / 'db.sqlite'}",
        root / "store",
        max_queued_jobs_per_owner=QUEUED_LIMIT,
        max_running_jobs_per_owner=RUNNING_LIMIT,
    ) as e:
        yield e


def _fill(env: ApiEnv, headers: dict[str, str]) -> list[str]:
    ids = []
    for number in range(QUEUED_LIMIT):
        response = env.client.post(
            "/v1/jobs", headers={**headers, "Idempotency-Key": f"k{number}"}, json=SPEC
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    return ids


def test_over_the_queued_limit_is_429_with_retry_after_and_nothing_kept(env: ApiEnv) -> None:
    alice = env.key("alice")
    _fill(env, alice)
    before, queued_calls = env.counts(), list(env.dispatcher.calls)

    response = env.client.post("/v1/jobs", headers={**alice, "Idempotency-Key": "new"}, json=SPEC)

    assert response.status_code == 429, response.text
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert f"you have {QUEUED_LIMIT} jobs queued" in body["detail"]
    assert f"PRUNESEARCH_MAX_QUEUED_JOBS_PER_OWNER={QUEUED_LIMIT}" in body["detail"]
    assert "0 running" in body["detail"]
    assert body["field"] is None
    assert env.counts() == before
    assert env.dispatcher.calls == queued_calls


def test_a_replay_is_answered_over_the_limit_and_a_refused_key_is_free(env: ApiEnv) -> None:
    alice = env.key("alice")
    first = _fill(env, alice)[0]

    replay = env.client.post("/v1/jobs", headers={**alice, "Idempotency-Key": "k0"}, json=SPEC)
    refused = env.client.post("/v1/jobs", headers={**alice, "Idempotency-Key": "k9"}, json=SPEC)
    assert (replay.status_code, replay.json()["id"]) == (200, first)
    assert refused.status_code == 429

    # Once one has left the queue, the key refused earlier makes a new job.
    assert env.client.delete(f"/v1/jobs/{first}", headers=alice).status_code == 202
    again = env.client.post("/v1/jobs", headers={**alice, "Idempotency-Key": "k9"}, json=SPEC)
    assert again.status_code == 202, again.text


def test_the_limit_is_per_owner_and_counts_only_queued_jobs(env: ApiEnv) -> None:
    _fill(env, env.key("alice"))
    assert env.client.post("/v1/jobs", headers=env.key("bob"), json=SPEC).status_code == 202

    with env.session() as session:
        make_job(session, owner="carol", status=JobStatus.RUNNING)
        make_job(session, owner="carol", status=JobStatus.SUCCEEDED)
    carol = env.key("carol")
    assert env.client.post("/v1/jobs", headers=carol, json=SPEC).status_code == 202
    response = env.client.post("/v1/jobs", headers=carol, json=SPEC)
    assert response.status_code == 202, response.text
    refused = env.client.post("/v1/jobs", headers=carol, json=SPEC)
    assert refused.status_code == 429
    assert "and 1 running" in refused.json()["detail"]


def test_the_client_reads_a_429_as_too_many_jobs() -> None:
    request = httpx.Request("POST", "http://x/v1/jobs")
    response = httpx.Response(
        429, json={"detail": "queued", "field": None}, headers={"Retry-After": "30"}
    )
    response.request = request

    error = error_from_response(response)

    assert isinstance(error, TooManyJobs)
    assert (error.status, error.retry_after) == (429, 30.0)
    assert "queued" in str(error)


def test_the_limits_are_settings_the_workers_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRUNESEARCH_MAX_RUNNING_JOBS_PER_OWNER", "3")
    monkeypatch.setenv("PRUNESEARCH_MAX_QUEUED_JOBS_PER_OWNER", "7")
    settings = Settings()
    assert (settings.max_running_jobs_per_owner, settings.max_queued_jobs_per_owner) == (3, 7)
    assert settings.worker_options().max_running_per_owner == 3
    for name in ("MAX_RUNNING_JOBS_PER_OWNER", "MAX_QUEUED_JOBS_PER_OWNER"):
        monkeypatch.setenv(f"PRUNESEARCH_{name}", "0")
        with pytest.raises(ValueError, match=name.lower()):
            Settings()
        monkeypatch.setenv(f"PRUNESEARCH_{name}", "1")
