"""Reviewers with tokens of their own, review sessions in the database, a readable audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviewers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviewers")),
        sa.UniqueConstraint("name", name=op.f("uq_reviewers_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_reviewers_token_hash")),
    )
    op.create_table(
        "reviewer_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["reviewer_id"], ["reviewers.id"],
                                name=op.f("fk_reviewer_sessions_reviewer_id_reviewers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_reviewer_sessions")),
    )
    op.create_index(op.f("ix_reviewer_sessions_reviewer_id"), "reviewer_sessions",
                    ["reviewer_id"], unique=False)
    op.create_index(op.f("ix_reviewer_sessions_expires_at"), "reviewer_sessions",
                    ["expires_at"], unique=False)
    # Nullable: entries written before this revision name their person only in details.
    op.add_column("audit_log", sa.Column("person_id", sa.String(length=36), nullable=True))
    op.create_index(op.f("ix_audit_log_person_id"), "audit_log", ["person_id"], unique=False)
    op.create_index(op.f("ix_audit_log_actor"), "audit_log", ["actor"], unique=False)
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_action"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_person_id"), table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("person_id")
    op.drop_index(op.f("ix_reviewer_sessions_expires_at"), table_name="reviewer_sessions")
    op.drop_index(op.f("ix_reviewer_sessions_reviewer_id"), table_name="reviewer_sessions")
    op.drop_table("reviewer_sessions")
    op.drop_table("reviewers")
