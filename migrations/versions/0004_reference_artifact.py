"""Reference weights as artifacts: a job's link to its trained unpruned weights.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ps_jobs") as batch:
        batch.add_column(sa.Column("reference_artifact_id", sa.String(length=32), nullable=True))
        batch.create_foreign_key(
            op.f("fk_ps_jobs_reference_artifact_id_ps_artifacts"),
            "ps_artifacts",
            ["reference_artifact_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("ps_jobs") as batch:
        batch.drop_constraint(
            op.f("fk_ps_jobs_reference_artifact_id_ps_artifacts"), type_="foreignkey"
        )
        batch.drop_column("reference_artifact_id")
