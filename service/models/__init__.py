"""The service's tables (all prefixed ``ps_``) and the job lifecycle.

>>> from service.models import Job, add_job, transition, JobStatus
>>> job = Job(owner="alice", name="demo", spec={...}, trials_planned=40)
>>> add_job(session, job)
>>> transition(session, job, JobStatus.RUNNING)
"""

from service.models._api_key import ApiKey
from service.models._artifact import Artifact
from service.models._base import TABLE_PREFIX, Base, UtcDateTime, new_id, utcnow
from service.models._enums import ArtifactKind, CandidateKind, DeviceKind, JobStatus
from service.models._job import Candidate, Job, JobEvent
from service.models._queries import find_idempotent_job, get_owned
from service.models._telemetry import SliceRun, WorkerProcess
from service.models.lifecycle import ALLOWED_TRANSITIONS, add_job, request_cancel, transition

__all__ = [
    "ALLOWED_TRANSITIONS",
    "TABLE_PREFIX",
    "ApiKey",
    "Artifact",
    "ArtifactKind",
    "Base",
    "Candidate",
    "CandidateKind",
    "DeviceKind",
    "Job",
    "JobEvent",
    "JobStatus",
    "SliceRun",
    "UtcDateTime",
    "WorkerProcess",
    "add_job",
    "find_idempotent_job",
    "get_owned",
    "new_id",
    "request_cancel",
    "transition",
    "utcnow",
]
