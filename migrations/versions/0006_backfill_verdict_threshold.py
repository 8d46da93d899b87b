"""Verdicts written before 0002 get their threshold, so the gate reads it from the verdict and
never loads a checkpoint to learn it.

Until now the gate filled a missing threshold in from a reason that carried one, else from the
configured checkpoint when its version was the verdict's. The second is written here as data:
the version and threshold of the checkpoint that shipped when the column was added (a
migration is a snapshot; it must not depend on whichever checkpoint is configured later).
Verdicts without a score (unprocessable) keep none: they have no chart.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# moderation/detector/weights/swap_detector.pt: config.version -> config.threshold
SHIPPED_THRESHOLDS = {"mobilenet_v2-8243b92f": 0.7167525887489319}


def upgrade() -> None:
    connection = op.get_bind()
    verdicts = sa.table("verdicts", sa.column("id", sa.String), sa.column("score", sa.Float),
                        sa.column("threshold", sa.Float), sa.column("reasons", sa.JSON),
                        sa.column("detector_version", sa.String))
    rows = connection.execute(sa.select(verdicts.c.id, verdicts.c.reasons,
                                        verdicts.c.detector_version)
                              .where(verdicts.c.threshold.is_(None),
                                     verdicts.c.score.is_not(None))).all()
    for verdict_id, reasons, version in rows:
        threshold = next((float(r["threshold"]) for r in reasons or []
                          if isinstance(r, dict) and isinstance(r.get("threshold"), int | float)
                          and not isinstance(r.get("threshold"), bool)),
                         SHIPPED_THRESHOLDS.get(version))
        if threshold is not None:
            connection.execute(sa.update(verdicts).where(verdicts.c.id == verdict_id)
                               .values(threshold=threshold))


def downgrade() -> None:
    # The filled-in thresholds are indistinguishable from recorded ones, and harmless to keep.
    pass
