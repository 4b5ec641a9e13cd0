"""The best model of a job, in the format asked for, read from its stored bundle.

A bundle is kept as one zip artifact (see :meth:`SqlJobStore.store_bundle`): ``bundle``
hands out the zip as it is; ``onnx`` and ``safetensors`` stream one member of it.

Only the chosen model's weights are kept: the search scores every other candidate (pruned,
BN recalibrated, some fine-tuned) and drops its weights, and rebuilding one would mean
pruning and fine-tuning it again. So a candidate's download is the best's bundle for the
best, and for any other one a 409 that says so (:func:`no_weights_reason`).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from service.artifacts import ArtifactStore
from service.exceptions import Conflict, NotFound
from service.models import Job

__all__ = [
    "BUNDLE_MEMBERS",
    "FORMATS",
    "BestModel",
    "Format",
    "available_formats",
    "no_weights_reason",
    "open_best_model",
    "open_candidate_model",
]

Format = Literal["bundle", "onnx", "safetensors"]
FORMATS: tuple[str, ...] = get_args(Format)
# The files of a bundle (pruning.save_bundle) that can be downloaded on their own.
BUNDLE_MEMBERS: dict[str, str] = {"onnx": "model.onnx", "safetensors": "model.safetensors"}
_MEDIA_TYPES = {
    "bundle": "application/zip",
    "onnx": "application/octet-stream",
    "safetensors": "application/octet-stream",
}
_CHUNK = 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BestModel:
    """What to send: a whole file (``path``), or a member of the bundle zip (``member``)."""

    path: Path
    filename: str
    media_type: str
    member: str | None = None

    def chunks(self) -> Iterator[bytes]:
        """The bytes to send, in pieces."""
        if self.member is None:
            with self.path.open("rb") as file:
                while chunk := file.read(_CHUNK):
                    yield chunk
            return
        with zipfile.ZipFile(self.path) as bundle, bundle.open(self.member) as file:
            while chunk := file.read(_CHUNK):
                yield chunk


def open_best_model(job: Job, artifacts: ArtifactStore, fmt: Format) -> BestModel:
    """The best model of ``job`` as ``fmt``.

    Raises:
        NotFound: the job has no best model (yet), or its bundle lacks that format.
    """
    if job.best_artifact_id is None:
        raise NotFound(f"job {job.id} has no best model {_why_not(job)}")
    path = artifacts.path(job.best_artifact_id)
    stem = f"{safe_stem(job.name)}-{job.id[:8]}"
    if fmt == "bundle":
        return BestModel(path, f"{stem}-bundle.zip", _MEDIA_TYPES[fmt])
    member = BUNDLE_MEMBERS[fmt]
    with zipfile.ZipFile(path) as bundle:
        present = set(bundle.namelist())
    if member not in present:
        raise NotFound(f"the best model of job {job.id} has no {member}{_onnx_note(job, fmt)}")
    return BestModel(path, f"{stem}-{member}", _MEDIA_TYPES[fmt], member=member)


def no_weights_reason(job: Job, number: int) -> str | None:
    """Why candidate ``number`` of ``job`` has no weights to download, or None when it has
    (it is the best model of a succeeded job, whose bundle is stored)."""
    best = (job.result or {}).get("best")
    best_number = best.get("number") if isinstance(best, dict) else None
    if job.best_artifact_id is not None and best_number == number:
        return None
    kept = "only the chosen model's weights are kept"
    if job.best_artifact_id is None or best_number is None:
        if job.status.is_final:
            return f"{kept}, and job {job.id} {job.status.value} without one"
        return (
            f"{kept}, once the job succeeds; it is {job.status.value}, and no candidate's "
            "weights are stored while it runs"
        )
    return (
        f"{kept}: candidate #{number} was pruned and scored, and its weights were not stored "
        f"(the best, #{best_number}, downloads from /v1/jobs/{job.id}/best/model); its "
        "ratios per layer are on the leaderboard"
    )


def open_candidate_model(job: Job, number: int, artifacts: ArtifactStore, fmt: Format) -> BestModel:
    """Candidate ``number``'s model as ``fmt``: the best's bundle when it is the best.

    Raises:
        Conflict: any other candidate (:func:`no_weights_reason` says why).
        NotFound: its bundle lacks that format.
    """
    reason = no_weights_reason(job, number)
    if reason is not None:
        raise Conflict(reason)
    return open_best_model(job, artifacts, fmt)


def available_formats(job: Job, artifacts: ArtifactStore) -> list[str]:
    """The formats :func:`open_best_model` can give for ``job`` now (none before success)."""
    if job.best_artifact_id is None:
        return []
    try:
        with zipfile.ZipFile(artifacts.path(job.best_artifact_id)) as bundle:
            present = set(bundle.namelist())
    except (NotFound, zipfile.BadZipFile, OSError):
        return []
    return ["bundle", *(fmt for fmt, member in BUNDLE_MEMBERS.items() if member in present)]


def safe_stem(name: str) -> str:
    """``name`` cut down to characters that are safe in a file name and an HTTP header."""
    return _SAFE_NAME.sub("-", name).strip("-.")[:100] or "job"


def _why_not(job: Job) -> str:
    if job.status.is_final:
        return f"(it {job.status.value}{': ' + job.error if job.error else ''})"
    return f"yet: it is {job.status.value}, and the model appears when the job succeeds"


def _onnx_note(job: Job, fmt: str) -> str:
    error = (job.result or {}).get("onnx_error")
    if fmt == "onnx" and error:
        return f" (the ONNX export failed: {error})"
    if fmt == "onnx":
        return " (the workers have no ONNX export installed: pip install prunesearch[export])"
    return ""
