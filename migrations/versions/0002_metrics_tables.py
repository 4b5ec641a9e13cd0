"""Metrics: trial and final durations as candidate columns; slices; worker heartbeats.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("ps_candidates", sa.Column("trial_s", sa.Float(), nullable=True))
    op.add_column("ps_candidates", sa.Column("final_s", sa.Float(), nullable=True))
    _backfill_durations()
    op.create_table(
        "ps_slices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=False),
        sa.Column("started_at", _time(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("trials", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["ps_jobs.id"],
            name=op.f("fk_ps_slices_job_id_ps_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ps_slices")),
    )
    op.create_index(op.f("ix_ps_slices_job_id"), "ps_slices", ["job_id"])
    op.create_table(
        "ps_workers",
        sa.Column("worker", sa.String(length=255), nullable=False),
        sa.Column("process", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("queues", _json(), nullable=False),
        sa.Column("started_at", _time(), nullable=False),
        sa.Column("last_seen", _time(), nullable=False),
        sa.Column("tasks_done", sa.Integer(), nullable=False),
        sa.Column("slices_done", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("worker", "process", name=op.f("pk_ps_workers")),
    )


def _backfill_durations() -> None:
    """Fill the new columns from the candidates' stored timings (frozen rule: trial = prune
    + proxy seconds, final = the final fine-tune's)."""
    candidates = sa.table(
        "ps_candidates",
        sa.column("id", sa.Integer()),
        sa.column("timings", _json()),
        sa.column("trial_s", sa.Float()),
        sa.column("final_s", sa.Float()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(candidates.c.id, candidates.c.timings)).all()
    updates = []
    for row in rows:
        timings = row.timings or {}
        parts = [timings.get(key) for key in ("prune_s", "proxy_s")]
        known = [float(part) for part in parts if isinstance(part, int | float)]
        final = timings.get("final_s")
        updates.append(
            {
                "row_id": row.id,
                "trial_s": sum(known) if known else None,
                "final_s": float(final) if isinstance(final, int | float) else None,
            }
        )
    statement = (
        sa.update(candidates)
        .where(candidates.c.id == sa.bindparam("row_id"))
        .values(trial_s=sa.bindparam("trial_s"), final_s=sa.bindparam("final_s"))
    )
    for start in range(0, len(updates), _BATCH):
        bind.execute(statement, updates[start : start + _BATCH])


def downgrade() -> None:
    op.drop_table("ps_workers")
    op.drop_table("ps_slices")
    with op.batch_alter_table("ps_candidates") as batch:
        batch.drop_column("final_s")
        batch.drop_column("trial_s")
