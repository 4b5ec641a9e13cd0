"""Test factories for the API: an app on a fresh database, keys, jobs, candidates, files.

``api_env`` builds a migrated database (SQLite file, or a PostgreSQL database of its own),
an app on it with a :class:`RecordingDispatcher`, and a client; the rest make rows and
upload payloads. Nothing here runs a search: REST-level tests check what the API stores
and queues, and the workers' own tests run the tasks.
"""

from __future__ import annotations

import io
import pickle
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch
from fastapi.testclient import TestClient
from safetensors.torch import save as save_safetensors
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from pruning import zoo
from service.app import create_app
from service.artifacts import ArtifactStore
from service.auth import create_key
from service.cli._local_server import serve_in_thread
from service.db import Database, migrate
from service.models import (
    Artifact,
    ArtifactKind,
    Candidate,
    Job,
    JobEvent,
    JobStatus,
    add_job,
    transition,
)
from service.settings import Settings
from tests.postgres import throwaway_database
from workers import Dispatcher

# A spec that validates in well under a second once digits is loaded (no training).
SPEC: dict[str, Any] = {
    "name": "digits-mlp",
    "model": {"zoo": "mlp", "kwargs": {"hidden": [32, 16]}, "pretrain_epochs": 1},
    "data": {"source": "digits"},
    "budget": {"max_macs": 0.5},
    "search": {"n_trials": 6},
}


def spec(**sections: dict[str, Any]) -> dict[str, Any]:
    """SPEC with sections merged key by key: ``spec(budget={"max_macs": 0.3})``."""
    data = {key: dict(value) if isinstance(value, dict) else value for key, value in SPEC.items()}
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


class RecordingDispatcher(Dispatcher):
    """Records what would be queued instead of running it.

    A test double on purpose: these tests check the REST contract (what is stored, what is
    queued, on which queue); running the tasks is the workers' tests' business (with the
    real EmbeddedDispatcher and Celery), and a real search here would cost minutes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.fail_with: Exception | None = None
        self._lock = threading.Lock()

    def enqueue(
        self, task: str, job_id: str, *, queue: str = "cpu", countdown_s: float = 0.0
    ) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            self.calls.append((task, job_id, queue))


@dataclass
class ApiEnv:
    """One app over one database, for a test module."""

    client: TestClient
    settings: Settings
    database: Database
    dispatcher: RecordingDispatcher

    def session(self) -> Session:
        return self.database.sessions()

    def key(self, owner: str) -> dict[str, str]:
        """Authorization headers with a fresh key of ``owner``."""
        with self.database.session() as session:
            token = create_key(session, owner)
        return {"Authorization": f"Bearer {token}"}

    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.settings.artifact_dir)

    def counts(self) -> dict[str, int]:
        """Rows per table, and files in the artifact store (to assert nothing changed)."""
        with self.database.sessions() as session:
            rows = {
                model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Job, JobEvent, Artifact, Candidate)
            }
        root = self.settings.artifact_dir
        rows["files"] = sum(1 for path in root.rglob("*") if path.is_file())
        return rows


@contextmanager
def api_env(database_url: str, artifact_dir: Path, **settings: Any) -> Iterator[ApiEnv]:
    """A migrated database at ``database_url`` and a started app (lifespan run) on it."""
    migrate(database_url)
    options: dict[str, Any] = {"database_url": database_url, "artifact_dir": artifact_dir}
    built = Settings(**{**options, **settings})
    dispatcher = RecordingDispatcher()
    app = create_app(built, dispatcher=dispatcher)
    database = Database(built.database_url)
    try:
        with TestClient(app) as client:
            yield ApiEnv(client, built, database, dispatcher)
    finally:
        database.dispose()


def postgres_database() -> AbstractContextManager[str]:
    """A fresh PostgreSQL database of its own, dropped afterwards."""
    return throwaway_database("ps_api")


@dataclass(frozen=True)
class LiveApi:
    """A real server (uvicorn in a thread, embedded execution, auth on) and a key to it."""

    url: str
    token: str
    database_url: str

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` with the key; the JSON answer (an error status raises)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        response = httpx.get(self.url + path, params=params, headers=headers, timeout=60)
        response.raise_for_status()
        return response.json()


@contextmanager
def live_api(folder: Path, *, owner: str = "tester") -> Iterator[LiveApi]:
    """A migrated SQLite database with a key for ``owner``, served with auth on."""
    url = f"sqlite:///{folder / 'api.db'}"
    migrate(url)
    database = Database(url)
    with database.session() as session:
        token = create_key(session, owner)
    database.dispose()
    settings = Settings(database_url=url, artifact_dir=folder / "store", auth=True, broker_url=None)
    with serve_in_thread(create_app(settings)) as base_url:
        yield LiveApi(base_url, token, url)


# -- rows --


def make_job(
    session: Session,
    owner: str,
    *,
    status: JobStatus = JobStatus.QUEUED,
    name: str = "job",
    spec_data: dict[str, Any] | None = None,
    **fields: Any,
) -> Job:
    """A committed job of ``owner``, walked through the lifecycle up to ``status``."""
    fields.setdefault("trials_planned", 6)
    job = Job(owner=owner, name=name, spec=spec_data or SPEC, **fields)
    add_job(session, job)
    path = {
        JobStatus.QUEUED: [],
        JobStatus.RUNNING: [JobStatus.RUNNING],
        JobStatus.FINALIZING: [JobStatus.RUNNING, JobStatus.FINALIZING],
        JobStatus.SUCCEEDED: [JobStatus.RUNNING, JobStatus.FINALIZING, JobStatus.SUCCEEDED],
        JobStatus.FAILED: [JobStatus.FAILED],
        JobStatus.CANCELLED: [JobStatus.CANCELLED],
    }[status]
    session.flush()
    for step in path:
        transition(session, job, step)
    session.commit()
    return job


def make_artifact(
    session: Session,
    store: ArtifactStore,
    owner: str,
    payload: bytes,
    *,
    kind: ArtifactKind = ArtifactKind.WEIGHTS,
    filename: str = "file.bin",
) -> Artifact:
    """A committed artifact of ``owner`` holding ``payload`` (unchecked: for tests that need
    a row and a file, not the upload path)."""
    stored = store.save_stream([payload], max_bytes=len(payload) + 1)
    artifact = Artifact(
        id=stored.id,
        owner=owner,
        kind=kind,
        filename=filename,
        sha256=stored.sha256,
        size=stored.size,
        path=stored.relpath,
    )
    session.add(artifact)
    session.commit()
    return artifact


def candidate_row(job_id: str, number: int, **fields: Any) -> dict[str, Any]:
    """A candidate as a dict of columns, with plausible figures derived from ``number``."""
    row: dict[str, Any] = {
        "job_id": job_id,
        "number": number,
        "kind": "search",
        "state": "complete",
        "ratios": {"layers.0": 0.5},
        "params": 1000 + (number * 37) % 5000,
        "macs": 2000 + (number * 53) % 9000,
        "latency_ms": None,
        "proxy_score": ((number * 7919) % 1000) / 1000,
        "accuracy": None,
        "test_accuracy": None,
        "feasible": number % 3 != 0,
        "pareto": False,
        "timings": {},
        "fidelity": "screen",
        "rung_score": None,
        "margin": None,
        "margin_se": None,
    }
    row.update(fields)
    return row


def add_candidates(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert (executemany): thousands of rows in well under a second."""
    session.execute(insert(Candidate), list(rows))
    session.commit()


# -- upload payloads --


def mlp_state_dict() -> dict[str, torch.Tensor]:
    """Weights that fit SPEC's model on digits (1x8x8 images, 10 classes)."""
    model = zoo.build("mlp", num_classes=10, in_channels=1, image_size=8, hidden=[32, 16])
    return {name: tensor.contiguous() for name, tensor in model.state_dict().items()}


def safetensors_bytes() -> bytes:
    return save_safetensors(mlp_state_dict())


def state_dict_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save(mlp_state_dict(), buffer)
    return buffer.getvalue()


def pickled_module_bytes() -> bytes:
    """A whole nn.Module saved with torch.save: loading it would run pickled code."""
    buffer = io.BytesIO()
    torch.save(torch.nn.Linear(4, 2), buffer)
    return buffer.getvalue()


def corrupt_safetensors_bytes() -> bytes:
    """A safetensors header promising more bytes than follow."""
    good = safetensors_bytes()
    return good[: len(good) // 2]


def npz_bytes(samples: int = 60) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        x_train=rng.random((samples, 1, 8, 8), dtype=np.float32),
        y_train=np.arange(samples) % 10,
    )
    return buffer.getvalue()


def plain_pickle_bytes() -> bytes:
    return pickle.dumps({"not": "weights"})
