"""Jobs keep the ETA their runner computed (it was discarded and recomputed by the API).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ps_jobs", sa.Column("eta_s", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("ps_jobs", "eta_s")
