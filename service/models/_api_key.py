"""API keys: only a lookup prefix and a hash of each token are stored, never the token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from service.models._base import Base, UtcDateTime, utcnow

__all__ = ["ApiKey"]


class ApiKey(Base):
    __tablename__ = "ps_api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(128), index=True)
    # The first characters of the token's secret part: narrows the lookup to a row or two.
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    def __repr__(self) -> str:
        return f"ApiKey(id={self.id}, owner={self.owner!r}, prefix={self.prefix!r})"
