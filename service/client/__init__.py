"""A typed Python client for the prunesearch REST API (httpx; no FastAPI, no torch).

>>> from service.client import Client
>>> with Client.from_env() as client:          # PRUNESEARCH_URL, PRUNESEARCH_API_KEY
...     job = client.submit("examples/digits-small-cnn.yaml")
...     job = client.wait(job.id, on_progress=lambda j: print(j.progress.trials_done))
...     print(client.best(job.id).gain_over_uniform)
...     client.download(job.id, "best/")        # then pruning.load_bundle("best/", factory)
"""

from service.client._client import DEFAULT_URL, KEY_ENV, URL_ENV, Client, SpecLike
from service.client._errors import ClientError
from service.client._insights import (
    BudgetLimits,
    CandidateDetail,
    CandidateLayer,
    History,
    Importance,
    JobPoints,
    ParamImportance,
    Point,
    ReferenceFigures,
    TrialPoint,
)
from service.client._models import (
    FINAL_STATUSES,
    ArtifactInfo,
    BestInfo,
    CandidateInfo,
    JobEvent,
    JobInfo,
    JobPage,
    JobStatus,
    JobSummary,
    LeaderboardPage,
    ModelFormat,
    Progress,
    Timings,
)

__all__ = [
    "DEFAULT_URL",
    "FINAL_STATUSES",
    "KEY_ENV",
    "URL_ENV",
    "ArtifactInfo",
    "BestInfo",
    "BudgetLimits",
    "CandidateDetail",
    "CandidateInfo",
    "CandidateLayer",
    "Client",
    "ClientError",
    "History",
    "Importance",
    "JobEvent",
    "JobInfo",
    "JobPage",
    "JobPoints",
    "JobStatus",
    "JobSummary",
    "LeaderboardPage",
    "ModelFormat",
    "ParamImportance",
    "Point",
    "Progress",
    "ReferenceFigures",
    "SpecLike",
    "Timings",
    "TrialPoint",
]
