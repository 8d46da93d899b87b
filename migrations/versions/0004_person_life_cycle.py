"""A person's life cycle: enrolments run by workers, descriptors keyed by source digest, a
reference image.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 02:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("protected_persons",
                  sa.Column("reference_image", sa.LargeBinary(), nullable=True))
    # Descriptors enrolled before this revision have no digest; NULLs never collide.
    with op.batch_alter_table("person_descriptors") as batch:
        batch.add_column(sa.Column("digest", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_person_descriptors_person_id"),
                                       ["person_id", "digest"])
    op.create_table(
        "enrolments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["protected_persons.id"],
                                name=op.f("fk_enrolments_person_id_protected_persons"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enrolments")),
    )
    op.create_index(op.f("ix_enrolments_person_id"), "enrolments", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_enrolments_person_id"), table_name="enrolments")
    op.drop_table("enrolments")
    with op.batch_alter_table("person_descriptors") as batch:
        batch.drop_constraint(op.f("uq_person_descriptors_person_id"), type_="unique")
        batch.drop_column("digest")
    with op.batch_alter_table("protected_persons") as batch:
        batch.drop_column("reference_image")
