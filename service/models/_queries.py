"""Look-ups that every route needs and must get right: ownership and idempotency."""

from __future__ import annotations

import re
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.exceptions import NotFound
from service.models._artifact import Artifact
from service.models._job import Job

__all__ = ["find_idempotent_job", "get_owned"]

Owned = TypeVar("Owned", Job, Artifact)
_ID = re.compile(r"[0-9a-f]{32}")  # what new_id() makes


def get_owned(session: Session, model: type[Owned], object_id: str, owner: str) -> Owned:
    """The ``model`` row ``object_id`` if ``owner`` owns it. Another owner's id raises the
    same :class:`NotFound` as a missing one, so ids of others cannot be probed."""
    # Nothing else can be an id: not worth a query (nor a NUL the database would refuse).
    found = session.get(model, object_id) if _ID.fullmatch(object_id) else None
    if found is None or found.owner != owner:
        shown = object_id if len(object_id) <= 64 else object_id[:64] + "..."
        raise NotFound(f"no {model.__name__.lower()} {shown!r}")
    return found


def find_idempotent_job(session: Session, owner: str, idempotency_key: str) -> Job | None:
    """The job ``owner`` submitted earlier with ``idempotency_key``, if any."""
    statement = select(Job).where(Job.owner == owner, Job.idempotency_key == idempotency_key)
    return session.scalars(statement).one_or_none()
