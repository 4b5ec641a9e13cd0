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
(:func:`service.api.deps.get_study_storages`); the dashboards' WSGI apps are kept per
(storage URL, study name) on the app too, the last :data:`DASHBOARDS_KEPT` used (both made
by the app's lifespan).

Modules: ``_storage`` (:class:`OneStudyView`), ``_cache`` (the dashboards' WSGI apps),
``_bundle`` (the page and the bundle, edited), ``_routes`` (the allow-list, :func:`route`),
``_forward`` (to the WSGI app through a2wsgi), ``_endpoint`` (the FastAPI route).
"""

from service.exceptions import ReadOnlyError, StudyNotCreated
from service.ui._dashboard._bundle import DASHBOARD_VERSION
from service.ui._dashboard._cache import DASHBOARDS_KEPT, Dashboards, get_dashboards
from service.ui._dashboard._endpoint import router
from service.ui._dashboard._routes import route
from service.ui._dashboard._storage import OneStudyView

__all__ = [
    "DASHBOARD_VERSION",
    "OneStudyView",
    "ReadOnlyError",
    "StudyNotCreated",
    "DASHBOARDS_KEPT",
    "Dashboards",
    "get_dashboards",
    "route",
    "router",
]
