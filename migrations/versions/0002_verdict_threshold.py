"""Verdicts record the detector's operating threshold.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 06:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: verdicts written before this revision keep no threshold.
    op.add_column("verdicts", sa.Column("threshold", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_column("threshold")
