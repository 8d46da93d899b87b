"""Inner-face descriptors beside the whole-face ones: a swap is named by the inner face it
carries, and the whole face says whether the head around it is the same person's.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows enrolled before stay NULL: those people are matched by whole faces until their files
    # are enrolled again (which fills the column in).
    op.add_column("person_descriptors", sa.Column("inner_vector", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("person_descriptors") as batch:
        batch.drop_column("inner_vector")
