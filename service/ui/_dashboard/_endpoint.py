"""The FastAPI route of ``/ui/jobs/{job_id}/dashboard/``: reads only, the caller's job only,
then the page, the bundle, or the dashboard's own WSGI app."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api.deps import SessionDep, SettingsDep, StoragesDep, get_owner
from service.api.errors import describe
from service.exceptions import AuthError, ReadOnlyError, StudyNotCreated
from service.models import Job, get_owned
from service.ui._dashboard._bundle import page, script, signed_out_page
from service.ui._dashboard._cache import Dashboards, get_dashboards
from service.ui._dashboard._forward import Forward
from service.ui._dashboard._routes import route

__all__ = ["router"]

_READS = frozenset({"GET", "HEAD"})

router = APIRouter()
_bearer = HTTPBearer(auto_error=False)


def _refuse(method: str) -> JSONResponse:
    status, body = describe(
        ReadOnlyError(
            f"the job's dashboard is read-only: {method} is not allowed (GET and HEAD are); "
            "studies, notes and trials cannot be changed through it"
        )
    )
    body["reason"] = body["detail"]  # what the dashboard's own scripts show
    return JSONResponse(body, status_code=status, headers={"Allow": "GET, HEAD"})


def _not_created(job: Job) -> StudyNotCreated:
    return StudyNotCreated(
        f"the job's study does not exist yet: the search creates it when the job starts "
        f"(job {job.id} is {job.status.value}); reload once it runs"
    )


_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_DATA_PREFIXES = ("api/", "static/", "csv/")


def _browsing(request: Request, path: str) -> bool:
    """A browser opening one of the dashboard's pages (not its scripts or data calls)."""
    accepts_html = "text/html" in request.headers.get("accept", "")
    return accepts_html and not path.lstrip("/").startswith(_DATA_PREFIXES)


@router.api_route("/jobs/{job_id}/dashboard", methods=_ALL_METHODS, name="dashboard_root")
@router.api_route("/jobs/{job_id}/dashboard/{path:path}", methods=_ALL_METHODS, name="dashboard")
def dashboard(
    job_id: str,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    storages: StoragesDep,
    dashboards: Annotated[Dashboards, Depends(get_dashboards)],
    path: str = "",
) -> Response:
    """optuna-dashboard for the job's study (see :mod:`service.ui._dashboard`)."""
    if request.method not in _READS:
        return _refuse(request.method)
    base = request.url_for("dashboard", job_id=job_id, path="").path.rstrip("/")
    job_page = base.removesuffix("/dashboard")
    try:
        owner = get_owner(request, settings, session, credentials)
    except AuthError as exc:
        if _browsing(request, path):
            return signed_out_page(job_page, str(exc))
        raise
    job = get_owned(session, Job, job_id, owner)
    url = job.storage_url or ""  # "": the service's own database
    try:
        found = dashboards.get(storages.storage(job.storage_url), (url, job.study_name))
    except StudyNotCreated:
        raise _not_created(job) from None
    target = route(path, found.study_id)
    if target == "page":
        return page(base, job_page)
    if target == "script":
        return script(request)
    # Study ids repeat across storages: the storage's own URL tells them apart.
    return Forward(found.app, base, path, storage_key=job.storage_url or settings.database_url)
