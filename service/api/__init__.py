"""The REST API: routers per resource, dependencies, schemas and the one error handler.

``api_router`` holds everything under ``/v1``; health and metrics sit at the root.
"""

from fastapi import APIRouter

from service.api import artifacts, compare, health, insights, jobs, metrics
from service.api.errors import install_error_handler
from service.api.schemas import error_responses

__all__ = ["API_PREFIX", "api_router", "install_error_handler", "root_router"]

API_PREFIX = "/v1"

# Every /v1 route may answer these (a bad key, a bad parameter, the database down, a bug).
api_router = APIRouter(prefix=API_PREFIX, responses=error_responses(401, 403, 422, 500, 503))
api_router.include_router(artifacts.router)
api_router.include_router(jobs.router)
api_router.include_router(insights.router)
api_router.include_router(compare.router)

root_router = APIRouter(responses=error_responses(403, 500))
root_router.include_router(health.router)
root_router.include_router(metrics.router)
