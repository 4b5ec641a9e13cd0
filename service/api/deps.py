"""Dependencies the routes declare: settings, a database session, the caller, the stores,
the study storages and the importance cache.

Everything comes from ``app.state``, set up by :func:`service.app.create_app` and its
lifespan, so each app (and each test) carries its own settings, database and dispatcher.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import Session

from service.artifacts import ArtifactStore
from service.auth import SESSION_COOKIE, authenticate
from service.db import Database
from service.exceptions import AuthError
from service.jobs import ImportanceCache, StudyStorages
from service.settings import Settings
from workers import Dispatcher

__all__ = [
    "LOCAL_OWNER",
    "ArtifactsDep",
    "DatabaseDep",
    "DispatcherDep",
    "ImportanceCacheDep",
    "OwnerDep",
    "RegistryDep",
    "SessionDep",
    "SettingsDep",
    "StoragesDep",
    "get_artifacts",
    "get_database",
    "get_dispatcher",
    "get_importance_cache",
    "get_owner",
    "get_registry",
    "get_session",
    "get_settings",
    "get_study_storages",
]

LOCAL_OWNER = "local"  # the owner of everything while auth is off (embedded, loopback)

_bearer = HTTPBearer(
    auto_error=False,
    description="An API key from `prunesearch keys create --owner NAME`.",
)


def get_settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def get_database(request: Request) -> Database:
    return cast(Database, request.app.state.database)


def get_artifacts(request: Request) -> ArtifactStore:
    return cast(ArtifactStore, request.app.state.artifacts)


def get_dispatcher(request: Request) -> Dispatcher:
    return cast(Dispatcher, request.app.state.dispatcher)


def get_registry(request: Request) -> CollectorRegistry:
    return cast(CollectorRegistry, request.app.state.registry)


def get_study_storages(request: Request) -> StudyStorages:
    """The app's Optuna storages, one per URL (default: the service's database)."""
    return cast(StudyStorages, request.app.state.study_storages)


def get_importance_cache(request: Request) -> ImportanceCache:
    return cast(ImportanceCache, request.app.state.importance_cache)


DatabaseDep = Annotated[Database, Depends(get_database)]


def get_session(database: DatabaseDep) -> Iterator[Session]:
    """A session for the request; writes commit explicitly, the rest is rolled back."""
    with database.sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
RegistryDep = Annotated[CollectorRegistry, Depends(get_registry)]
StoragesDep = Annotated[StudyStorages, Depends(get_study_storages)]
ImportanceCacheDep = Annotated[ImportanceCache, Depends(get_importance_cache)]


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_owner(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller: the owner of the bearer token, or ``local`` while auth is off.

    The web page signs in once and then sends its key as the ``prunesearch_session``
    cookie (HttpOnly, SameSite=Strict), so that plain links (downloads, the dashboard) are
    authenticated too. The cookie counts for reads only: a request that changes something
    must carry the bearer header, which another site cannot make a browser send (CSRF).

    Raises:
        AuthError: no key, or one that is unknown or revoked (401).
    """
    if not settings.auth:
        return LOCAL_OWNER
    if credentials is not None and credentials.credentials:
        return authenticate(session, credentials.credentials)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and request.method in _SAFE_METHODS:
        return authenticate(session, cookie)
    if cookie:
        raise AuthError(
            "the session cookie only authenticates reads: send the header "
            "'Authorization: Bearer <key>' to change anything"
        )
    raise AuthError("missing API key: send the header 'Authorization: Bearer <key>'")


OwnerDep = Annotated[str, Depends(get_owner)]
