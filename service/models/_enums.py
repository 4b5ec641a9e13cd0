"""The closed vocabularies stored in our tables."""

from __future__ import annotations

from enum import StrEnum

# The workers own the job status (they sit below the service and drive it); our column
# stores its values.
from workers import JobStatus

__all__ = ["ArtifactKind", "CandidateKind", "DeviceKind", "JobStatus"]


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
