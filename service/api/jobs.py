"""/v1/jobs: submit, list, read, cancel; a job's leaderboard, best candidate and model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response, status
from fastapi.responses import FileResponse, StreamingResponse

from search import SearchSpec
from service.api.body import INT64_MAX, StrictJsonRoute, refuse_unread_body
from service.api.deps import (
    ArtifactsDep,
    DatabaseDep,
    DispatcherDep,
    OwnerDep,
    SessionDep,
    SettingsDep,
)
from service.api.export import CSV_RESPONSE, ExportFormat, leaderboard_csv
from service.api.schemas import (
    INT32_MAX,
    BestOut,
    CandidateOut,
    JobOut,
    JobSummaryOut,
    LeaderboardOut,
    Page,
    error_responses,
)
from service.exceptions import Conflict, NotFound
from service.jobs import (
    Format,
    LeaderboardQuery,
    SortKey,
    available_formats,
    baselines,
    best_candidate,
    enqueue_job,
    get_candidate,
    leaderboard_page,
    list_jobs,
    open_best_model,
    open_candidate_model,
    submit_job,
)
from service.models import CandidateKind, Job, JobStatus, get_owned, request_cancel

# Bodies (the job spec) are read strictly, then validated by FastAPI as their declared model.
router = APIRouter(prefix="/jobs", tags=["jobs"], route_class=StrictJsonRoute)

_ERRORS = error_responses(404)
_EXAMPLE_SPEC: dict[str, Any] = {
    "name": "digits-mlp",
    "model": {"zoo": "mlp", "kwargs": {"hidden": [64, 32]}, "pretrain_epochs": 3},
    "data": {"source": "digits"},
    "budget": {"max_macs": 0.5, "latency": {"device": "cpu"}},
    "search": {"n_trials": 60, "parallelism": 1, "sampler": "tpe"},
    "finetune": {"rung_candidates": 6, "rungs": 2, "rung_steps": 20, "final_epochs": 3},
}
SpecBody = Annotated[
    SearchSpec,
    Body(openapi_examples={"digits": {"summary": "an MLP on digits", "value": _EXAMPLE_SPEC}}),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="repeat a POST with the same key to get the first job back, not a second",
    ),
]


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses={
        200: {"model": JobOut, "description": "replay of an earlier key"},
        **error_responses(400, 413, 415, 429),
    },
    # A body refused while read (size, media type, strict JSON) answers after the caller
    # is known; FastAPI validates a readable one as a SearchSpec, naming the field.
    dependencies=[Depends(refuse_unread_body)],
    summary="Validate a job spec and queue the job",
)
def create_job(
    spec: SpecBody,
    response: Response,
    owner: OwnerDep,
    session: SessionDep,
    settings: SettingsDep,
    artifacts: ArtifactsDep,
    dispatcher: DispatcherDep,
    idempotency_key: IdempotencyKey = None,
) -> JobOut:
    """The body is a job spec (see DESIGN.md); unknown fields are refused. 202 with the new
    job; 200 with the first job for a repeated Idempotency-Key."""
    submission = submit_job(
        session, owner, spec, idempotency_key, settings=settings, artifacts=artifacts
    )
    if submission.created:
        enqueue_job(session, dispatcher, submission.job)
    else:
        response.status_code = status.HTTP_200_OK
    return JobOut.of(submission.job)


@router.get("", response_model=Page[JobSummaryOut])
def get_jobs(
    owner: OwnerDep,
    session: SessionDep,
    job_status: Annotated[JobStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> Page[JobSummaryOut]:
    """Your jobs, newest first."""
    jobs, total = list_jobs(session, owner, status=job_status, limit=limit, offset=offset)
    items = [JobSummaryOut.of(job) for job in jobs]
    return Page[JobSummaryOut](items=items, total=total, limit=limit, offset=offset)


@router.get("/{job_id}", response_model=JobOut, responses=_ERRORS)
def get_job(job_id: str, owner: OwnerDep, session: SessionDep) -> JobOut:
    """Status, progress, timings, error, reference figures, result summary and events."""
    return JobOut.of(get_owned(session, Job, job_id, owner))


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses=error_responses(404, 409),
)
def cancel_job(job_id: str, owner: OwnerDep, session: SessionDep) -> JobOut:
    """Cancel: a queued job at once; a running one stops at its next epoch (what finished
    is kept). A job already over answers 409."""
    job = get_owned(session, Job, job_id, owner)
    if job.status.is_final:
        raise Conflict(f"job {job.id} is already {job.status.value}: nothing to cancel")
    request_cancel(session, job, "cancelled on request")
    session.commit()
    return JobOut.of(job)


@router.get(
    "/{job_id}/leaderboard",
    response_model=LeaderboardOut,
    responses={**CSV_RESPONSE, **_ERRORS},
)
def get_leaderboard(
    job_id: str,
    owner: OwnerDep,
    session: SessionDep,
    database: DatabaseDep,
    feasible: bool | None = None,
    kind: CandidateKind | None = None,
    pareto: bool | None = None,
    fidelity: Annotated[
        str | None, Query(pattern=r"^(screen|final|rung-[1-8])$", max_length=16)
    ] = None,
    sort: SortKey = "rank",
    order: Literal["asc", "desc"] | None = None,
    limit: Annotated[
        int | None, Query(ge=1, le=1000, description="JSON: 50 when not given; CSV: every row")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
    fmt: Annotated[ExportFormat, Query(alias="format")] = "json",
) -> LeaderboardOut | Response:
    """Candidates best first (feasible and complete first, the furthest stage first, then
    the score of that stage), or sorted by ``sort``; filtered (``fidelity``: screen,
    rung-k, final), paged, with the total. ``format=csv``: the same rows and columns as a
    streamed CSV file (a header line; every matching row unless ``limit`` is given)."""
    job = get_owned(session, Job, job_id, owner)
    if fmt == "csv":
        query = LeaderboardQuery(feasible, kind, pareto, fidelity, sort, order, limit or 0, offset)
        return leaderboard_csv(database, job, query)
    limit = limit or 50
    query = LeaderboardQuery(feasible, kind, pareto, fidelity, sort, order, limit, offset)
    rows, total = leaderboard_page(session, job.id, query)
    return LeaderboardOut(
        items=[CandidateOut.model_validate(row) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
        job_id=job.id,
        job_status=job.status,
        sort=sort,
        order=order or ("desc" if sort == "score" else "asc"),
    )


@router.get("/{job_id}/best", response_model=BestOut, responses=_ERRORS)
def get_best(job_id: str, owner: OwnerDep, session: SessionDep, artifacts: ArtifactsDep) -> BestOut:
    """The best candidate: final once the job succeeded, else the best so far."""
    job = get_owned(session, Job, job_id, owner)
    best, final = best_candidate(session, job)
    if best is None:
        raise NotFound(f"job {job.id} has no feasible candidate yet (it is {job.status.value})")
    candidate = CandidateOut.model_validate(best)
    formats = available_formats(job, artifacts)
    return BestOut.of(job, candidate, final, baselines(session, job.id), formats)


@router.get(
    "/{job_id}/best/model",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}, "application/octet-stream": {}}},
        **_ERRORS,
    },
    summary="Download the best model: the bundle (zip), model.onnx or model.safetensors",
)
def get_best_model(
    job_id: str,
    owner: OwnerDep,
    session: SessionDep,
    artifacts: ArtifactsDep,
    fmt: Annotated[Format, Query(alias="format")] = "bundle",
) -> Response:
    """404 with the reason while the job has no best model, or its bundle lacks the format."""
    job = get_owned(session, Job, job_id, owner)
    model = open_best_model(job, artifacts, fmt)
    if model.member is None:
        return FileResponse(model.path, media_type=model.media_type, filename=model.filename)
    headers = {"Content-Disposition": f'attachment; filename="{model.filename}"'}
    return StreamingResponse(model.chunks(), media_type=model.media_type, headers=headers)


@router.get(
    "/{job_id}/candidates/{number}/model",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}, "application/octet-stream": {}}},
        **error_responses(404, 409),
    },
    summary="Download a candidate's model: the best's bundle, or a 409 saying why not",
)
def get_candidate_model(
    job_id: str,
    number: Annotated[int, Path(ge=0, le=INT32_MAX, description="the trial number")],
    owner: OwnerDep,
    session: SessionDep,
    artifacts: ArtifactsDep,
    fmt: Annotated[Format, Query(alias="format")] = "bundle",
) -> Response:
    """Only the chosen model's weights are kept: the best candidate of a succeeded job
    downloads as from /best/model; any other answers 409 with the reason (the same as
    ``no_model_reason`` on /candidates/{number}); 404 for a number that is no candidate."""
    job = get_owned(session, Job, job_id, owner)
    get_candidate(session, job, number)  # 404 for an unknown number, before any 409
    model = open_candidate_model(job, number, artifacts, fmt)
    if model.member is None:
        return FileResponse(model.path, media_type=model.media_type, filename=model.filename)
    headers = {"Content-Disposition": f'attachment; filename="{model.filename}"'}
    return StreamingResponse(model.chunks(), media_type=model.media_type, headers=headers)
