"""Stages: a candidate's fidelity, rung score and paired margin; the sensitivity baseline.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = ("uniform", "global", "search")
_KINDS_AFTER = ("uniform", "global", "sensitivity", "search")


def _kinds(values: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table("ps_candidates") as batch:
        batch.add_column(
            sa.Column("fidelity", sa.String(length=16), nullable=False, server_default="screen")
        )
        batch.add_column(sa.Column("rung_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("margin", sa.Float(), nullable=True))
        batch.add_column(sa.Column("margin_se", sa.Float(), nullable=True))
        batch.drop_constraint("candidate_kind", type_="check")
        batch.create_check_constraint("candidate_kind", _kinds(_KINDS_AFTER))
    op.add_column("ps_jobs", sa.Column("stage", sa.String(length=16), nullable=True))
    # Candidates of single-stage jobs: a final accuracy means the finals were reached.
    op.execute("UPDATE ps_candidates SET fidelity = 'final' WHERE accuracy IS NOT NULL")


def downgrade() -> None:
    op.drop_column("ps_jobs", "stage")
    op.execute("DELETE FROM ps_candidates WHERE kind = 'sensitivity'")
    with op.batch_alter_table("ps_candidates") as batch:
        batch.drop_constraint("candidate_kind", type_="check")
        batch.create_check_constraint("candidate_kind", _kinds(_KINDS_BEFORE))
        batch.drop_column("margin_se")
        batch.drop_column("margin")
        batch.drop_column("rung_score")
        batch.drop_column("fidelity")
