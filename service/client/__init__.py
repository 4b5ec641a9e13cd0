"""A typed Python client for the prunesearch REST API (httpx; no FastAPI, no torch).

>>> from service.client import Client
>>> with Client.from_env() as client:          # PRUNESEARCH_URL, PRUNESEARCH_API_KEY
...     job = client.submit("examples/digits-small-cnn.yaml")
...     job = client.wait(job.id, on_progress=lambda j: print(j.progress.trials_done))
...     print(client.best(job.id).gain_over_uniform)
...     client.download(job.id, "best/")        # then pruning.load_bundle("best/", factory)

Every failure is a :class:`ClientError`, shaped like httpx's tree, so a caller catches as
narrowly as it needs (``except NotFound``, ``except BudgetUnreachable as e: e.smallest``)::

    ClientError                  .detail .status .field .smallest; .is_client_side for 4xx
    ├── TransportError           no answer: refused, unreachable, broken (status None)
    │   └── RequestTimeout       no answer within the client's timeout
    ├── WaitTimeout              Client.wait ran out of time; the job goes on
    ├── UnexpectedAnswer         a 2xx the client cannot read (another version?)
    └── HTTPStatusError          the API answered 4xx/5xx (status set)
        ├── RequestRejected      400, 415: a body the API cannot read
        ├── Unauthorized         401: no key, or an unknown or revoked one
        ├── Forbidden            403: auth off on an exposed address
        ├── NotFound             404: no such object of yours
        ├── Conflict             409: e.g. cancelling a finished job
        ├── TooLarge             413: a body or upload over the limit
        ├── ValidationFailed     422: .field names the field at fault
        │   └── BudgetUnreachable    422 with .smallest, the smallest achievable figure
        ├── TooManyJobs          429: as many jobs queued as one owner may; .retry_after s
        └── ServerSideError      5xx: the server failed
            └── Unavailable      503: database or broker down; .retry_after seconds

Local failures before any request (an unreadable spec file, an unsafe bundle member) are
plain :class:`ClientError`.
"""

from service.client._client import DEFAULT_URL, KEY_ENV, URL_ENV, Client, ExportFormat, SpecLike
from service.client._compare import BestCompared, ComparedJob, Comparison
from service.client._errors import (
    BudgetUnreachable,
    ClientError,
    Conflict,
    Forbidden,
    HTTPStatusError,
    NotFound,
    RequestRejected,
    RequestTimeout,
    ServerSideError,
    TooLarge,
    TooManyJobs,
    TransportError,
    Unauthorized,
    Unavailable,
    UnexpectedAnswer,
    ValidationFailed,
    WaitTimeout,
)
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
    "BestCompared",
    "BudgetLimits",
    "BudgetUnreachable",
    "CandidateDetail",
    "CandidateInfo",
    "CandidateLayer",
    "Client",
    "ClientError",
    "ComparedJob",
    "Comparison",
    "Conflict",
    "Forbidden",
    "HTTPStatusError",
    "History",
    "Importance",
    "JobEvent",
    "JobInfo",
    "JobPage",
    "JobPoints",
    "JobStatus",
    "JobSummary",
    "LeaderboardPage",
    "ExportFormat",
    "ModelFormat",
    "NotFound",
    "ParamImportance",
    "Point",
    "Progress",
    "ReferenceFigures",
    "RequestRejected",
    "RequestTimeout",
    "ServerSideError",
    "SpecLike",
    "Timings",
    "TooLarge",
    "TooManyJobs",
    "TransportError",
    "TrialPoint",
    "Unauthorized",
    "Unavailable",
    "UnexpectedAnswer",
    "ValidationFailed",
    "WaitTimeout",
]
