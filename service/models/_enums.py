"""The closed vocabularies stored in our tables."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ArtifactKind", "CandidateKind", "DeviceKind", "JobStatus"]


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINALIZING = "finalizing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class ArtifactKind(StrEnum):
    WEIGHTS = "weights"
    DATA = "data"
    BUNDLE = "bundle"
    REFERENCE = "reference"


class CandidateKind(StrEnum):
    UNIFORM = "uniform"
    GLOBAL = "global"
    SENSITIVITY = "sensitivity"
    SEARCH = "search"


class DeviceKind(StrEnum):
    CPU = "cpu"
    CUDA = "cuda"
