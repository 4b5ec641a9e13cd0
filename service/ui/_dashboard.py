"""optuna-dashboard for one job's Optuna study, behind the API's own auth.

``/ui/jobs/{job_id}/dashboard/`` is optuna-dashboard (its JavaScript ships in the
optuna-dashboard wheel: no CDN) over the job's study alone, read-only:

- every request (page, script, API call) is authenticated as the REST API does it (bearer
  key, or the web page's session cookie) before the dashboard sees it, and the job must be
  the caller's: another owner's job answers the API's own 404;
- only GET and HEAD: what would create, rename or delete a study, or write a note, a trial's
  values or user attributes, answers 405 at once;
- only the dashboard's read routes, and only for the job's study: the study list shows that
  study alone, a path naming any other study id answers 404. Behind that filter the
  dashboard gets :class:`OneStudyView`, a storage that knows no other study and raises on
  every write, so a route the filter missed still cannot reach or change anything else;
- a job whose search has not created its study yet (queued) answers 404 saying so.

optuna-dashboard's standalone bundle is built for the root of a server: ``/static``,
``/api`` and the client routes under ``/dashboard`` are webpack constants, with no prefix
to set at run time. So the page and the bundle are served from here with those paths
pointed at the mount (read from a ``<meta>`` tag of the page); the rest goes to the
dashboard's own WSGI app through a2wsgi, with the mount as its SCRIPT_NAME.

Storages are the app's, one per URL, shared with the insights routes
(:func:`service.api.insights.get_study_storages`); the dashboards' WSGI apps are kept per
(storage URL, study name) on the app too, the last :data:`DASHBOARDS_KEPT` used.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import re
import threading
from collections import OrderedDict
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, NoReturn, cast

import optuna_dashboard
from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi_typing import Environ, StartResponse, WSGIApp
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial, TrialState
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.deps import SessionDep, SettingsDep, get_owner
from service.api.errors import describe
from service.api.insights import StoragesDep
from service.exceptions import NotFound, ServiceError
from service.models import Job, get_owned

__all__ = [
    "DASHBOARD_VERSION",
    "OneStudyView",
    "ReadOnlyError",
    "StudyNotCreated",
    "DASHBOARDS_KEPT",
    "get_dashboards",
    "route",
    "router",
]

DASHBOARD_VERSION: str = optuna_dashboard.__version__
DASHBOARDS_KEPT = 32  # WSGI apps per FastAPI app, the most recently used (one per study)
_PACKAGE_DIR = Path(optuna_dashboard.__file__).resolve().parent
_READS = frozenset({"GET", "HEAD"})
_APP_KEY = "prunesearch.dashboard_app"  # the scope key a2wsgi's thread finds the app under
_BASE_META = "prunesearch-dashboard-base"
# The dashboard's own policy (optuna_dashboard._app, without an LLM provider): scripts and
# data from this origin only; WebGL plots need 'unsafe-eval'.
_CSP = ";".join(
    [
        "default-src 'self'",
        "img-src 'self' data: blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "connect-src 'self'",
        "style-src 'self' data: 'unsafe-inline'",
        "script-src 'self' 'unsafe-eval'",
    ]
)

router = APIRouter()
_bearer = HTTPBearer(auto_error=False)


class StudyNotCreated(NotFound):
    """The job's study is not in its storage yet: the search creates it when it starts."""


class ReadOnlyError(ServiceError):
    """A request or storage call that would change something through the dashboard."""

    status_code: ClassVar[int] = 405


# -- the storage the dashboard sees --


class OneStudyView(BaseStorage):
    """One study of ``storage``, read-only: the only study listed or found by name, every
    other study id raises KeyError (the dashboard answers 404), every trial id of another
    study too, and every write raises :class:`ReadOnlyError`."""

    def __init__(self, storage: BaseStorage, study_id: int, study_name: str) -> None:
        self._storage = storage
        self._study_id = study_id
        self._study_name = study_name

    @property
    def study_id(self) -> int:
        return self._study_id

    def _own(self, study_id: int) -> int:
        if study_id != self._study_id:
            raise KeyError(f"no study with id {study_id}")
        return study_id

    def _own_trial(self, trial_id: int) -> FrozenTrial:
        # A trial id of another study: its number does not lead back to it in this one.
        trial = self._storage.get_trial(trial_id)
        try:
            mine = self._storage.get_trial_id_from_study_id_trial_number(
                self._study_id, trial.number
            )
        except KeyError:
            mine = None
        if mine != trial_id:
            raise KeyError(f"no trial with id {trial_id}")
        return trial

    @staticmethod
    def _refuse(*_: object, **__: object) -> NoReturn:
        raise ReadOnlyError("the dashboard is read-only")

    # Reads of the one study.

    def get_study_id_from_name(self, study_name: str) -> int:
        if study_name != self._study_name:
            raise KeyError(f"no study named {study_name!r}")
        return self._study_id

    def get_study_name_from_id(self, study_id: int) -> str:
        self._own(study_id)
        return self._study_name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self._storage.get_study_directions(self._own(study_id))

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._storage.get_study_user_attrs(self._own(study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._storage.get_study_system_attrs(self._own(study_id))

    def get_all_studies(self) -> list[FrozenStudy]:
        # Built from the one study's rows: the dashboard lists studies on every poll, and
        # the base storage's list would read every job's study.
        directions = self.get_study_directions(self._study_id)
        return [
            FrozenStudy(
                study_name=self._study_name,
                direction=None,
                directions=directions,
                user_attrs=self.get_study_user_attrs(self._study_id),
                system_attrs=self.get_study_system_attrs(self._study_id),
                study_id=self._study_id,
            )
        ]

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        return self._storage.get_all_trials(self._own(study_id), deepcopy=deepcopy, states=states)

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        return self._storage.get_n_trials(self._own(study_id), state)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        return self._storage.get_best_trial(self._own(study_id))

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self._storage.get_trial_id_from_study_id_trial_number(
            self._own(study_id), trial_number
        )

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return self._own_trial(trial_id)

    # Writes: none.

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        self._refuse()

    def delete_study(self, study_id: int) -> None:
        self._refuse()

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._refuse()

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._refuse()

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        self._refuse()

    def set_trial_param(
        self, trial_id: int, param_name: str, param_value_internal: float, distribution: Any
    ) -> None:
        self._refuse()

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        self._refuse()

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._refuse()

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._refuse()

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._refuse()


# -- dashboards, cached per app --


@dataclass(frozen=True)
class _Dashboard:
    study_id: int
    app: WSGIApp


class _Dashboards:
    """optuna-dashboard apps per (storage URL, study name), the last ``size`` used. A study
    not created yet is not remembered: the next request looks again."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._apps: OrderedDict[tuple[str, str], _Dashboard] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, storage: BaseStorage, key: tuple[str, str]) -> _Dashboard:
        """The dashboard of study ``key[1]`` in ``storage`` (whose URL is ``key[0]``).

        Raises:
            StudyNotCreated: the storage has no such study (yet).
        """
        with self._lock:
            found = self._apps.get(key)
            if found is not None:
                self._apps.move_to_end(key)
                return found
        built = _build(storage, key[1])  # outside the lock: it reads the database
        with self._lock:
            self._apps[key] = built
            self._apps.move_to_end(key)
            while len(self._apps) > self.size:
                self._apps.popitem(last=False)
        return built

    def __len__(self) -> int:
        with self._lock:
            return len(self._apps)


def _build(storage: BaseStorage, study_name: str) -> _Dashboard:
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        raise StudyNotCreated(study_name) from None
    app = optuna_dashboard.wsgi(OneStudyView(storage, study_id, study_name))
    return _Dashboard(study_id=study_id, app=cast(WSGIApp, app))


_STATE_LOCK = threading.Lock()


def get_dashboards(request: Request) -> _Dashboards:
    """The app's dashboards, made on first use (the storages are the app's too: see
    :func:`service.api.insights.get_study_storages`)."""
    state = request.app.state
    with _STATE_LOCK:
        dashboards = getattr(state, "optuna_dashboards", None)
        if dashboards is None:
            dashboards = state.optuna_dashboards = _Dashboards(size=DASHBOARDS_KEPT)
    return cast(_Dashboards, dashboards)


# -- the page and the bundle, pointed at the mount --

# (text, its replacement, how many times the pinned release has it)
_META_READ = f"document.querySelector('meta[name=\"{_BASE_META}\"]').content"
_BUNDLE_EDITS: tuple[tuple[str, str, int], ...] = (
    # The client's routes: /dashboard/studies/1 -> <mount>/studies/1.
    ('url_prefix:"/dashboard"', f"url_prefix:{_META_READ}", 1),
    # The API client's base URL (API_ENDPOINT, empty in the release): /api -> <mount>/api.
    ("this.baseURL=", f"this.baseURL={_META_READ}+", 1),
    # The trials' CSV download links.
    ("`/csv/", f"`${{{_META_READ}}}/csv/", 2),
)
_SCRIPT_TAG = '<script defer src="/static/bundle.js"></script>'


def _edit(text: str, edits: Iterable[tuple[str, str, int]], what: str) -> str:
    for old, new, count in edits:
        found = text.count(old)
        if found != count:
            raise RuntimeError(
                f"optuna-dashboard {DASHBOARD_VERSION}: its {what} has {found} of {old!r}, "
                f"expected {count}; this module knows the release pinned in pyproject.toml"
            )
        text = text.replace(old, new)
    return text


@cache
def _bundle() -> tuple[bytes, bytes, str]:
    """The bundle with its paths under the mount: plain, gzipped, and its ETag."""
    source = (_PACKAGE_DIR / "public" / "bundle.js").read_text(encoding="utf-8")
    body = _edit(source, _BUNDLE_EDITS, "bundle.js").encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return body, gzip.compress(body, compresslevel=6, mtime=0), etag


@cache
def _page_template() -> str:
    return (_PACKAGE_DIR / "index.html").read_text(encoding="utf-8")


def _page(base: str) -> Response:
    quoted = html.escape(base, quote=True)
    tags = (
        f'<meta name="{_BASE_META}" content="{quoted}" />\n    '
        f'<script defer src="{quoted}/static/bundle.js"></script>'
    )
    text = _edit(_page_template(), [(_SCRIPT_TAG, tags, 1)], "index.html")
    headers = {"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"}
    return Response(text, media_type="text/html; charset=utf-8", headers=headers)


def _script(request: Request) -> Response:
    body, gzipped, etag = _bundle()
    # Private: the copy is per job address and behind auth; revalidated by ETag.
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        body = gzipped
    return Response(body, media_type="application/javascript", headers=headers)


# -- what the mount answers --

_CLIENT_ROUTE = re.compile(r"/studies/(\d+)(?:/[A-Za-z-]+)?|/compare-studies|")
_API_ROUTE = re.compile(r"/api/studies/(\d+)(?:/param_importances|/plot/[a-z_]+)?|/csv/(\d+)")
_PLAIN_ROUTES = frozenset({"/api/meta", "/api/studies", "/static/bundle.js.LICENSE.txt"})

Target = Literal["page", "script", "app"]


def route(path: str, study_id: int) -> Target:
    """What answers ``path`` (below the mount) of the dashboard of study ``study_id``.

    Raises:
        NotFound: not a read route of the dashboard, or one naming another study.
    """
    path = "/" + path.strip("/")
    if path == "/static/bundle.js":
        return "script"
    if path in _PLAIN_ROUTES:
        return "app"
    for pattern, target in ((_CLIENT_ROUTE, "page"), (_API_ROUTE, "app")):
        match = pattern.fullmatch(path.rstrip("/"))
        if match is not None:
            named = next((group for group in match.groups() if group is not None), None)
            if named is not None and int(named) != study_id:
                raise NotFound(f"study {named} is not this job's study (its study is {study_id})")
            return cast(Target, target)
    raise NotFound(f"{path!r} is not a page or read route of the job's dashboard")


class _Forward(Response):
    """Hands the request to the dashboard's WSGI app, in a2wsgi's threads, with the mount as
    its SCRIPT_NAME and the rest of the path as its PATH_INFO."""

    def __init__(self, app: WSGIApp, base: str, path: str) -> None:
        super().__init__()
        self.app = app
        self.base = base
        self.path = "/" + path.lstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        forwarded = {**scope, "root_path": self.base, "path": self.base + self.path}
        forwarded[_APP_KEY] = self.app
        await _wsgi_server(forwarded, receive, send)


def _dispatch(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    scope = cast(dict[str, Any], environ)["asgi.scope"]
    app = cast(WSGIApp, scope[_APP_KEY])
    return app(environ, start_response)


# One thread pool for every job's dashboard.
_wsgi_server = cast(ASGIApp, WSGIMiddleware(_dispatch, workers=8))


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


@router.api_route("/jobs/{job_id}/dashboard", methods=_ALL_METHODS, name="dashboard_root")
@router.api_route("/jobs/{job_id}/dashboard/{path:path}", methods=_ALL_METHODS, name="dashboard")
def dashboard(
    job_id: str,
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    storages: StoragesDep,
    dashboards: Annotated[_Dashboards, Depends(get_dashboards)],
    path: str = "",
) -> Response:
    """optuna-dashboard for the job's study (see the module's docstring)."""
    if request.method not in _READS:
        return _refuse(request.method)
    owner = get_owner(request, settings, session, credentials)
    job = get_owned(session, Job, job_id, owner)
    url = job.storage_url or ""  # "": the service's own database
    try:
        found = dashboards.get(storages.storage(job.storage_url), (url, job.study_name))
    except StudyNotCreated:
        raise _not_created(job) from None
    base = request.url_for("dashboard", job_id=job_id, path="").path.rstrip("/")
    target = route(path, found.study_id)
    if target == "page":
        return _page(base)
    if target == "script":
        return _script(request)
    return _Forward(found.app, base, path)
