"""The pages, their static files and the sign-in that sets the session cookie.

The pages are static HTML shells; their scripts read the REST API (``/v1``) with the
browser's session cookie, which ``POST /ui/session`` sets from an API key once it checks
out. The cookie is HttpOnly (scripts never see the key) and SameSite=Strict, and the API
accepts it for reads only (see :func:`service.api.deps.get_owner`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.staticfiles import StaticFiles

from service.api.deps import LOCAL_OWNER, OwnerDep, SessionDep, SettingsDep
from service.auth import SESSION_COOKIE, authenticate

__all__ = ["STATIC_DIR", "SessionIn", "SessionOut", "router"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Pages change with the package: a browser revalidates them (cheap 304s), never guesses.
_PAGE_HEADERS = {"Cache-Control": "no-cache"}

router = APIRouter()
_static = StaticFiles(directory=STATIC_DIR, check_dir=False)


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(min_length=1, max_length=512, description="an API key (ps_...)")


class SessionOut(BaseModel):
    owner: str = Field(description="whose jobs the page shows")
    auth: bool = Field(description="false: auth is off (embedded loopback run), no sign-in")


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=_PAGE_HEADERS)


def jobs_page() -> FileResponse:
    """The jobs list, at /ui (added to the /ui router itself: see service.ui)."""
    return _page("jobs.html")


@router.get("/jobs/{job_id}", response_class=FileResponse)
def job_page(job_id: str) -> FileResponse:
    """One job; its script reads the id from the address (an unknown id shows the API's
    404 message on the page)."""
    del job_id
    return _page("job.html")


@router.get("/compare", response_class=FileResponse)
def compare_page() -> FileResponse:
    """Jobs compared; its script reads ``?jobs=a,b,...`` (and ``axis``) from the address."""
    return _page("compare.html")


@router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
async def static_file(path: str, request: Request) -> Response:
    """The pages' scripts, styles and vendored libraries, shipped in this package."""
    response: Response = await _static.get_response(path, request.scope)
    return response


@router.get("/session", response_model=SessionOut)
def read_session(owner: OwnerDep, settings: SettingsDep) -> SessionOut:
    """Who the page is signed in as (401 when it is not)."""
    return SessionOut(owner=owner, auth=settings.auth)


@router.post("/session", response_model=SessionOut)
def sign_in(
    body: Annotated[SessionIn, Body()],
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> SessionOut:
    """Check an API key and keep it in the session cookie; 401 for a bad key."""
    if not settings.auth:
        return SessionOut(owner=LOCAL_OWNER, auth=False)
    key = body.api_key.strip()
    owner = authenticate(session, key)
    response.set_cookie(
        SESSION_COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return SessionOut(owner=owner, auth=True)


@router.delete("/session", status_code=204, response_class=Response)
def sign_out(request: Request) -> Response:
    """Forget the session cookie (the key itself stays valid)."""
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response
