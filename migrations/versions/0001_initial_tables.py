"""Initial tables: api keys, artifacts, jobs, candidates, job events.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a revision must not change when the models do.
STATUSES = ("queued", "running", "finalizing", "succeeded", "failed", "cancelled")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    _create_api_keys()
    _create_artifacts()
    _create_jobs()
    _create_candidates()
    _create_job_events()


def _create_api_keys() -> None:
    op.create_table(
        "ps_api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("revoked_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ps_api_keys")),
        sa.UniqueConstraint("hash", name=op.f("uq_ps_api_keys_hash")),
    )
    op.create_index(op.f("ix_ps_api_keys_owner"), "ps_api_keys", ["owner"])
    op.create_index(op.f("ix_ps_api_keys_prefix"), "ps_api_keys", ["prefix"])


def _create_artifacts() -> None:
    op.create_table(
        "ps_artifacts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column(
            "kind",
            _enum("artifact_kind", "weights", "data", "bundle", "reference"),
            nullable=False,
        ),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ps_artifacts")),
    )
    op.create_index(op.f("ix_ps_artifacts_owner"), "ps_artifacts", ["owner"])
    op.create_index(op.f("ix_ps_artifacts_sha256"), "ps_artifacts", ["sha256"])


def _create_jobs() -> None:
    op.create_table(
        "ps_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("status", _enum("job_status", *STATUSES), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("device_kind", _enum("device_kind", "cpu", "cuda"), nullable=False),
        sa.Column("study_name", sa.String(length=255), nullable=False),
        sa.Column("storage_url", sa.Text(), nullable=True),
        sa.Column("trials_planned", sa.Integer(), nullable=False),
        sa.Column("trials_done", sa.Integer(), nullable=False),
        sa.Column("trials_failed", sa.Integer(), nullable=False),
        sa.Column("best_score", sa.Float(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("reference", _json(), nullable=True),
        sa.Column("result", _json(), nullable=True),
        sa.Column("best_artifact_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("started_at", _time(), nullable=True),
        sa.Column("finished_at", _time(), nullable=True),
        sa.Column("updated_at", _time(), nullable=False),
        sa.Column("runner_heartbeat_at", _time(), nullable=True),
        sa.ForeignKeyConstraint(
            ["best_artifact_id"],
            ["ps_artifacts.id"],
            name=op.f("fk_ps_jobs_best_artifact_id_ps_artifacts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ps_jobs")),
        sa.UniqueConstraint(
            "owner", "idempotency_key", name=op.f("uq_ps_jobs_owner_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_ps_jobs_owner_created_at"), "ps_jobs", ["owner", "created_at"])
    op.create_index(op.f("ix_ps_jobs_status"), "ps_jobs", ["status"])


def _create_candidates() -> None:
    op.create_table(
        "ps_candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", _enum("candidate_kind", "uniform", "global", "search"), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("criterion", sa.String(length=16), nullable=True),
        sa.Column("ratios", _json(), nullable=False),
        sa.Column("params", sa.BigInteger(), nullable=True),
        sa.Column("macs", sa.BigInteger(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("proxy_score", sa.Float(), nullable=True),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("test_accuracy", sa.Float(), nullable=True),
        sa.Column("feasible", sa.Boolean(), nullable=False),
        sa.Column("pareto", sa.Boolean(), nullable=False),
        sa.Column("timings", _json(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["ps_jobs.id"],
            name=op.f("fk_ps_candidates_job_id_ps_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ps_candidates")),
        sa.UniqueConstraint("job_id", "number", name=op.f("uq_ps_candidates_job_id_number")),
    )


def _create_job_events() -> None:
    op.create_table(
        "ps_job_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("from_status", _enum("from_status", *STATUSES), nullable=True),
        sa.Column("to_status", _enum("to_status", *STATUSES), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["ps_jobs.id"],
            name=op.f("fk_ps_job_events_job_id_ps_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ps_job_events")),
    )
    op.create_index(op.f("ix_ps_job_events_job_id"), "ps_job_events", ["job_id"])


def downgrade() -> None:
    # Dependants first; indexes go with their tables.
    for table in ("ps_job_events", "ps_candidates", "ps_jobs", "ps_artifacts", "ps_api_keys"):
        op.drop_table(table)
