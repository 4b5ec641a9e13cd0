"""The service's settings: one class, read from ``PRUNESEARCH_*`` environment variables.

Only :func:`get_settings` reads the environment; everything else takes a :class:`Settings`
(or the values it needs) as an argument, so tests and libraries never depend on env vars.
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from workers import WorkerOptions

__all__ = ["Settings", "get_settings", "is_loopback", "normalize_database_url"]

_INT32_MAX = 2**31 - 1  # the jobs table's trial counts are 32-bit
# The workers' knobs: their defaults and their checks are the workers' (one set of each).
_WORKERS = WorkerOptions()


class Settings(BaseSettings):
    """Every knob of the service. Env var names are the field names in upper case with the
    ``PRUNESEARCH_`` prefix, e.g. ``PRUNESEARCH_DATABASE_URL``."""

    model_config = SettingsConfigDict(env_prefix="PRUNESEARCH_", frozen=True)

    # Storage. Plain postgresql:// URLs are rewritten to the psycopg 3 driver (see below).
    database_url: str = "sqlite:///./prunesearch.db"
    artifact_dir: Path = Path("./prunesearch-artifacts")
    max_upload_mb: int = Field(default=512, gt=0)
    # What an upload may inflate to (npz, torch zip): unset means 2 x max_upload_mb.
    max_unpacked_mb: int | None = Field(default=None, gt=0)
    max_spec_kb: int = Field(default=256, gt=0)  # the JSON body of POST /v1/jobs
    allow_pickle: bool = False  # operator switch: accept pickled modules as weights

    # Execution: no broker means embedded (a thread pool inside the API process). The
    # knobs below are the workers' (workers.WorkerOptions): defaulted and checked there
    # (see worker_options()), under names of their own here.
    broker_url: str | None = None
    embedded_workers: int = Field(default=1, ge=1)
    slice_trials: int = _WORKERS.slice_trials
    slice_seconds: float = _WORKERS.slice_seconds
    task_time_limit_s: int = _WORKERS.task_time_limit_s
    visibility_timeout_s: int = _WORKERS.visibility_timeout_s
    heartbeat_interval_s: int = _WORKERS.trial_heartbeat_s  # Optuna's trial heartbeat
    stale_after_s: int = int(_WORKERS.stale_after_s)
    sweep_interval_s: int = int(_WORKERS.sweep_every_s)
    # Optuna's grace for a silent trial before it is failed and retried; unset:
    # WorkerOptions.grace_for(heartbeat_interval_s).
    trial_grace_s: int | None = None
    # Faults (README "Faults and limits"): the most slices of one job the workers run at
    # once, and how long a database or broker outage may last before it fails a job.
    max_parallelism: int = _WORKERS.max_parallelism
    outage_tolerance_s: float = _WORKERS.outage_tolerance_s
    # Fair shares (README "Scaling"): the most jobs of one owner running at once (the
    # rest wait, queued, and start as those end) and the most queued (a submission over
    # it answers 429). Trials per job: max_trials, below.
    max_running_jobs_per_owner: int = Field(default=_WORKERS.max_running_per_owner, ge=1)
    max_queued_jobs_per_owner: int = Field(default=20, ge=1)
    # Each worker process records a heartbeat this often; /metrics counts a worker alive
    # while its last one is younger than three of these.
    worker_heartbeat_s: float = _WORKERS.worker_heartbeat_s

    # HTTP and auth.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    auth: bool = True
    allowed_factories: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line

    # Upper bounds on what one job may cost, checked when it is submitted (422 naming the
    # spec field and the bound); service.jobs.COST_BOUNDS says which field each one bounds.
    # (max_parallelism, above, also bounds search.parallelism at submission.)
    max_trials: int = Field(default=1000, ge=1, le=_INT32_MAX)
    max_epochs: int = Field(default=100, ge=0)
    max_finalists: int = Field(default=20, ge=1)
    max_batch_size: int = Field(default=4096, ge=1)
    max_lr: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    max_train_samples: int = Field(default=1_000_000, ge=1)
    max_input_elements: int = Field(default=3 * 512 * 512, ge=1)  # one sample: C x H x W
    max_threads: int = Field(default=64, ge=1)
    max_rung_steps: int = Field(default=100_000, ge=1, le=_INT32_MAX)  # batches of rung 1
    # The unpruned model, sized on the meta device before validation builds it for real.
    max_model_params: int = Field(default=200_000_000, ge=1)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_unpacked_bytes(self) -> int:
        return (self.max_unpacked_mb or 2 * self.max_upload_mb) * 1024 * 1024

    @property
    def max_spec_bytes(self) -> int:
        return self.max_spec_kb * 1024

    @property
    def embedded(self) -> bool:
        return self.broker_url is None

    def worker_options(self) -> WorkerOptions:
        """The workers' options from these settings (API and workers read the same).

        Raises:
            workers.InvalidOptions: a value, or a combination, the workers refuse.
        """
        return WorkerOptions(
            slice_trials=self.slice_trials,
            slice_seconds=self.slice_seconds,
            allowed_factories=tuple(self.allowed_factories),
            stale_after_s=self.stale_after_s,
            broker_url=self.broker_url,
            visibility_timeout_s=self.visibility_timeout_s,
            task_time_limit_s=self.task_time_limit_s,
            trial_heartbeat_s=self.heartbeat_interval_s,
            trial_grace_s=(
                WorkerOptions.grace_for(self.heartbeat_interval_s)
                if self.trial_grace_s is None
                else self.trial_grace_s
            ),
            worker_heartbeat_s=self.worker_heartbeat_s,
            sweep_every_s=float(self.sweep_interval_s),
            max_parallelism=self.max_parallelism,
            max_running_per_owner=self.max_running_jobs_per_owner,
            outage_tolerance_s=self.outage_tolerance_s,
        )

    @field_validator("broker_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `PRUNESEARCH_BROKER_URL=` (empty) means "no broker": embedded, not Celery's default.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("allowed_factories", mode="before")
    @classmethod
    def _split_factories(cls, value: Any) -> Any:
        # Accept a JSON list or the friendlier comma-separated form from the environment.
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        # The workers' one check (a task must end before the broker redelivers it, a
        # trial's grace must exceed its heartbeat, ...): InvalidOptions is a ValueError.
        self.worker_options()
        if not self.auth and not (self.embedded and is_loopback(self.host)):
            raise ValueError(
                "auth may be off only for an embedded run bound to loopback "
                f"(broker_url unset, host 127.0.0.1 or ::1); got host={self.host!r}, "
                f"broker_url {'set' if self.broker_url else 'unset'}"
            )
        return self


def normalize_database_url(url: str) -> str:
    """Point ``postgres://`` and ``postgresql://`` URLs at psycopg 3, the installed driver
    (SQLAlchemy's default for them is psycopg2); other URLs come back unchanged."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment once (``cache_clear()`` in tests)."""
    return Settings()
