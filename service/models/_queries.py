"""Look-ups that every route needs and must get right: ownership and idempotency."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.exceptions import NotFound
from service.models._artifact import Artifact
from service.models._job import Job

__all__ = ["find_idempotent_job", "get_owned"]

Owned = TypeVar("Owned", Job, Artifact)


def get_owned(session: Session, model: type[Owned], object_id: str, owner: str) -> Owned:
    """The ``model`` row ``object_id`` if ``owner`` owns it. Another owner's id raises the
    same :class:`NotFound` as a missing one, so ids of others cannot be probed."""
    found = session.get(model, object_id)
    if found is None or found.owner != owner:
        raise NotFound(f"no {model.__name__.lower()} {object_id!r}")
    return found


def find_idempotent_job(session: Session, owner: str, idempotency_key: str) -> Job | None:
    """The job ``owner`` submitted earlier with ``idempotency_key``, if any."""
    statement = select(Job).where(Job.owner == owner, Job.idempotency_key == idempotency_key)
    return session.scalars(statement).one_or_none()
