"""The web page (/ui): the jobs list, a job's live leaderboard and plots, and the job's
study in optuna-dashboard. Pages are static files shipped in this package (no CDN); their
scripts read the REST API, signed in with the same API keys as every other client.
"""

from fastapi import APIRouter

from service.ui import _dashboard, _pages
from service.ui._dashboard import DASHBOARDS_KEPT, Dashboards

__all__ = ["DASHBOARDS_KEPT", "Dashboards", "ui_router"]

ui_router = APIRouter(prefix="/ui", include_in_schema=False)
ui_router.include_router(_pages.router)
# /ui itself: an included router cannot hold the empty path, so it sits here.
ui_router.add_api_route("", _pages.jobs_page, methods=["GET"])
ui_router.include_router(_dashboard.router)
