"""POST /v1/artifacts and GET /v1/artifacts/{id}: streamed, size-limited, checked uploads."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import torch
from fastapi.testclient import TestClient

from service.app import create_app
from tests.service.factories import (
    ApiEnv,
    RecordingDispatcher,
    api_env,
    corrupt_safetensors_bytes,
    npz_bytes,
    pickled_module_bytes,
    safetensors_bytes,
    state_dict_bytes,
)

LIMIT_MB = 1


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    root = tmp_path_factory.mktemp("artifacts-api")
    with api_env(f"sqlite:///{root / 'db.sqlite'}", root / "store", max_upload_mb=LIMIT_MB) as e:
        yield e


@pytest.fixture(scope="module")
def alice(env: ApiEnv) -> dict[str, str]:
    return env.key("alice")


def upload(
    env: ApiEnv, headers: dict[str, str], name: str, payload: bytes, kind: str = "weights"
) -> httpx.Response:
    response: httpx.Response = env.client.post(
        "/v1/artifacts", headers=headers, files={"file": (name, payload)}, data={"kind": kind}
    )
    return response


@pytest.mark.parametrize(
    ("name", "payload", "kind"),
    [
        ("model.safetensors", safetensors_bytes(), "weights"),
        ("model.pt", state_dict_bytes(), "weights"),
        ("digits.npz", npz_bytes(), "data"),
    ],
)
def test_upload_is_stored_with_its_sha256(
    env: ApiEnv, alice: dict[str, str], name: str, payload: bytes, kind: str
) -> None:
    response = upload(env, alice, name, payload, kind)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["sha256"] == hashlib.sha256(payload).hexdigest()
    assert (body["size"], body["kind"], body["filename"]) == (len(payload), kind, name)
    stored = env.settings.artifact_dir / body["id"][:2] / body["id"]
    assert stored.read_bytes() == payload  # stored under its id, not its name
    again = env.client.get(f"/v1/artifacts/{body['id']}", headers=alice)
    assert again.status_code == 200
    assert again.json() == body


def test_another_owner_gets_404(env: ApiEnv, alice: dict[str, str]) -> None:
    artifact = upload(env, alice, "w.safetensors", safetensors_bytes()).json()

    response = env.client.get(f"/v1/artifacts/{artifact['id']}", headers=env.key("mallory"))

    assert response.status_code == 404
    assert response.json()["detail"] == env.client.get(
        "/v1/artifacts/0123456789abcdef0123456789abcdef", headers=alice
    ).json()["detail"].replace("0123456789abcdef0123456789abcdef", artifact["id"])


BIG = b"\0" * (LIMIT_MB * 1024 * 1024 + 4096)


@pytest.mark.parametrize(
    ("name", "payload", "kind", "status", "field", "words"),
    [
        ("w.safetensors", corrupt_safetensors_bytes(), "weights", 422, "file", "corrupt"),
        ("module.pt", pickled_module_bytes(), "weights", 422, "file", "pickled"),
        ("big.safetensors", BIG, "weights", 413, "file", "size limit"),
        ("../../etc/passwd", safetensors_bytes(), "weights", 422, "file", "path"),
        ("w.safetensors", safetensors_bytes(), "model", 422, "kind", "not one of"),
        ("x.npz", safetensors_bytes(), "data", 422, "file", "x.npz"),
    ],
    ids=["corrupt", "pickled-module", "too-large", "path-like-name", "bad-kind", "not-data"],
)
def test_bad_upload_is_refused_and_nothing_is_stored(
    env: ApiEnv,
    alice: dict[str, str],
    name: str,
    payload: bytes,
    kind: str,
    status: int,
    field: str,
    words: str,
) -> None:
    before = env.counts()

    response = upload(env, alice, name, payload, kind)

    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert words in response.json()["detail"]
    assert env.counts() == before
    assert not list((env.settings.artifact_dir / ".tmp").iterdir())  # no temp file left


def test_over_the_limit_is_refused_while_streaming(env: ApiEnv, alice: dict[str, str]) -> None:
    """No Content-Length (chunked): the writer itself stops at the limit."""
    boundary = "xyzzy"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nweights\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="w.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(LIMIT_MB * 4 + 1):
            yield b"\1" * 256 * 1024
        yield f"\r\n--{boundary}--\r\n".encode()

    before = env.counts()
    response = env.client.post(
        "/v1/artifacts",
        headers={**alice, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
    )

    assert response.status_code == 413
    assert response.json()["field"] == "file"
    assert env.counts() == before


def test_missing_parts_name_the_field(env: ApiEnv, alice: dict[str, str]) -> None:
    no_kind = env.client.post(
        "/v1/artifacts", headers=alice, files={"file": ("w.safetensors", safetensors_bytes())}
    )
    no_file = env.client.post("/v1/artifacts", headers=alice, data={"kind": "weights"})
    not_multipart = env.client.post("/v1/artifacts", headers=alice, json={"kind": "weights"})

    assert (no_kind.status_code, no_kind.json()["field"]) == (422, "kind")
    assert (no_file.status_code, no_file.json()["field"]) == (422, "file")
    assert (not_multipart.status_code, not_multipart.json()["field"]) == (422, "file")


def test_path_like_name_never_leaves_the_store(env: ApiEnv, alice: dict[str, str]) -> None:
    root = Path(env.settings.artifact_dir).resolve()
    outside = {path for path in root.parent.rglob("*")} - {path for path in root.rglob("*")}

    upload(env, alice, "../evil.safetensors", safetensors_bytes())

    after = {path for path in root.parent.rglob("*")} - {path for path in root.rglob("*")}
    assert after == outside


def test_an_operator_may_allow_pickled_modules_which_are_kept_as_state_dicts(
    env: ApiEnv, alice: dict[str, str]
) -> None:
    settings = env.settings.model_copy(update={"allow_pickle": True})
    root = Path(settings.artifact_dir)
    before = {path for path in root.rglob("*") if path.is_file()}
    pickled = pickled_module_bytes()
    with TestClient(create_app(settings, dispatcher=RecordingDispatcher())) as client:
        response = client.post(
            "/v1/artifacts",
            headers=alice,
            files={"file": ("module.pt", pickled)},
            data={"kind": "weights"},
        )

    assert response.status_code == 201, response.text
    # The workers load weights with weights_only=True: what is kept must load that way.
    (stored,) = {path for path in root.rglob("*") if path.is_file()} - before
    weights = torch.load(stored, weights_only=True)
    module = torch.load(io.BytesIO(pickled), weights_only=False)
    assert weights.keys() == module.state_dict().keys()
    assert all(torch.equal(weights[k], v) for k, v in module.state_dict().items())
    body = response.json()
    assert body["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert body["size"] == stored.stat().st_size
