"""The hostile-input corpus against a real app on PostgreSQL: every input gets a 4xx JSON
answer with a clear message; nothing is stored (no row, no file) and nothing is executed
(the pickles' marker file never appears)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.factories import ApiEnv, api_env, make_job, npz_bytes, postgres_database
from tests.service.hostile.corpus import (
    BOMB_LIMIT_MB,
    Upload,
    bodies,
    bomb_uploads,
    filename_uploads,
    malformed_multipart,
    multipart,
    pickle_uploads,
)

SPEC_KB = 64
# Unpickling any payload of the corpus would create this file.
MARKER = Path(tempfile.gettempdir()) / f"prunesearch-hostile-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    root = tmp_path_factory.mktemp("hostile")
    with (
        postgres_database() as url,
        api_env(url, root / "store", max_upload_mb=BOMB_LIMIT_MB, max_spec_kb=SPEC_KB) as e,
    ):
        yield e
    MARKER.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def mallory(env: ApiEnv) -> dict[str, str]:
    return env.key("mallory")


@pytest.fixture(scope="module")
def job(env: ApiEnv) -> str:
    """One of mallory's jobs, so that job routes reach their parameters' checks."""
    with env.session() as session:
        return make_job(session, "mallory").id


def assert_refused(
    env: ApiEnv, response: httpx.Response, before: dict[str, int], statuses: tuple[int, ...]
) -> dict[str, object]:
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, object] = response.json()
    assert set(body) >= {"detail", "field"}
    assert isinstance(body["detail"], str) and len(body["detail"]) > 10
    assert env.counts() == before  # no row, no file (nor temporary file) left
    assert not MARKER.exists()  # nothing unpickled
    return body


def _by_name(uploads: list[Upload]) -> dict[str, Upload]:
    return {upload.name: upload for upload in uploads}


UPLOADS = {
    **_by_name(pickle_uploads(MARKER)),
    **_by_name(bomb_uploads()),
    **_by_name(filename_uploads(npz_bytes())),
}


@pytest.mark.parametrize("name", list(UPLOADS))
def test_hostile_upload_is_refused(env: ApiEnv, mallory: dict[str, str], name: str) -> None:
    upload = UPLOADS[name]
    headers, content = multipart(upload.filename, upload.payload, upload.kind)
    before = env.counts()

    response = env.client.post("/v1/artifacts", headers={**mallory, **headers}, content=content)

    body = assert_refused(env, response, before, upload.statuses)
    assert upload.says.lower() in str(body["detail"]).lower()


def test_the_pickles_would_run_code(tmp_path: Path) -> None:
    """The corpus is hostile for real: unpickled, a payload creates its marker."""
    import pickle

    marker = tmp_path / "ran"
    payload = pickle_uploads(marker)[0].payload
    pickle.loads(payload)  # the point of the test: this runs the payload
    assert marker.exists()


def test_a_bomb_under_the_limit_is_accepted(env: ApiEnv, mallory: dict[str, str]) -> None:
    """The bound is on what a file inflates to, not on compression as such."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    x = np.zeros((1000, 1, 8, 8), dtype=np.float32)  # 256 KiB inflated, under 2 MiB
    np.savez_compressed(buffer, x_train=x, y_train=np.arange(1000) % 10)
    headers, content = multipart("small.npz", buffer.getvalue(), "data")

    response = env.client.post("/v1/artifacts", headers={**mallory, **headers}, content=content)

    assert response.status_code == 201, response.text


MALFORMED = malformed_multipart(npz_bytes())


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_multipart_is_refused(env: ApiEnv, mallory: dict[str, str], name: str) -> None:
    content_type, content = MALFORMED[name]
    before = env.counts()

    response = env.client.post(
        "/v1/artifacts", headers={**mallory, "Content-Type": content_type}, content=content
    )

    assert_refused(env, response, before, (400, 413, 422))


BODIES = {body.name: body for body in bodies(SPEC_KB)}


@pytest.mark.parametrize("name", list(BODIES))
def test_hostile_spec_is_refused(env: ApiEnv, mallory: dict[str, str], name: str) -> None:
    case = BODIES[name]
    before = env.counts()

    response = env.client.post(
        "/v1/jobs",
        headers={**mallory, "Content-Type": "application/json"},
        content=case.content,
    )

    body = assert_refused(env, response, before, (case.status,))
    assert case.says.lower() in str(body["detail"]).lower()
    if case.field is not None:
        assert str(body["field"]).startswith(case.field)
    assert env.dispatcher.calls == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/jobs/{job}/candidates/2147483648", "number"),
        ("/v1/jobs/{job}/candidates/-1", "number"),
        ("/v1/jobs/{job}/candidates/99999999999999999999999999", "number"),
        ("/v1/jobs?offset=9223372036854775808", "offset"),
        ("/v1/jobs?offset=-1", "offset"),
        ("/v1/jobs?limit=99999999999999999999", "limit"),
        ("/v1/jobs/{job}/leaderboard?offset=9223372036854775808", "offset"),
        ("/v1/jobs/{job}/leaderboard?limit=0", "limit"),
        ("/v1/jobs/{job}/leaderboard?offset=1e400", "offset"),
        ("/v1/jobs/{job}/leaderboard?offset=NaN", "offset"),
        ("/v1/jobs/{job}/leaderboard?sort=%00", "sort"),
        ("/v1/jobs?status=%00", "status"),
    ],
)
def test_out_of_range_parameters_are_422(
    env: ApiEnv, mallory: dict[str, str], job: str, path: str, field: str
) -> None:
    before = env.counts()

    response = env.client.get(path.format(job=job), headers=mallory)

    body = assert_refused(env, response, before, (422,))
    assert body["field"] == field


@pytest.mark.parametrize(
    "job_id",
    ["%00", "a%00b", "x" * 5000, "..%2F..%2Fetc%2Fpasswd", "%E2%80%AE", "0" * 31 + "%00"],
    ids=["nul", "nul-inside", "5000-chars", "traversal", "bidi", "almost-an-id"],
)
def test_ids_that_cannot_exist_are_404(env: ApiEnv, mallory: dict[str, str], job_id: str) -> None:
    before = env.counts()
    for path in (f"/v1/jobs/{job_id}", f"/v1/artifacts/{job_id}", f"/v1/jobs/{job_id}/best"):
        response = env.client.get(path, headers=mallory)
        assert_refused(env, response, before, (404,))
    response = env.client.delete(f"/v1/jobs/{job_id}", headers=mallory)
    assert_refused(env, response, before, (404,))
