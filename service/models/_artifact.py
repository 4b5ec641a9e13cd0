"""Uploaded and produced files; the bytes live in the artifact store under ``path``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models._base import Base, UtcDateTime, enum_column, utcnow
from service.models._enums import ArtifactKind

__all__ = ["Artifact"]


class Artifact(Base):
    __tablename__ = "ps_artifacts"

    # The store's id (uuid4 hex): the row is written only after the file is in place.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[ArtifactKind] = mapped_column(enum_column(ArtifactKind, "artifact_kind"))
    filename: Mapped[str] = mapped_column(String(255))  # sanitized, for display only
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(String(255))  # relative to the store root, from the id
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"Artifact(id={self.id!r}, kind={self.kind.value!r}, size={self.size})"
