"""What /metrics reads besides jobs and candidates: slices that ran, and worker heartbeats.

Workers are other processes, possibly on other machines; they write these rows through the
job store, and every API replica reads the same figures from them at scrape time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.models._base import Base, JsonType, UtcDateTime, utcnow

__all__ = ["SliceRun", "WorkerProcess"]


class SliceRun(Base):
    """One ``run_slice`` task that ended: how long it took and how many trials it ran."""

    __tablename__ = "ps_slices"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("ps_jobs.id", ondelete="CASCADE"), index=True)
    worker: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    seconds: Mapped[float] = mapped_column(Float)
    trials: Mapped[int] = mapped_column(Integer)


class WorkerProcess(Base):
    """A worker process's last heartbeat: a Celery node's pool process, or the API's
    embedded pool. Counts are since the process started (they reset with it)."""

    __tablename__ = "ps_workers"

    worker: Mapped[str] = mapped_column(String(255), primary_key=True)
    process: Mapped[int] = mapped_column(Integer, primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[list[str]] = mapped_column(JsonType, default=list)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    tasks_done: Mapped[int] = mapped_column(Integer, default=0)
    slices_done: Mapped[int] = mapped_column(Integer, default=0)
