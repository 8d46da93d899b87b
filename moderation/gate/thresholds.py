"""The operating threshold behind a verdict, for the score charts.

The gate never loads a model: a verdict records the threshold its detector scored against
(since migration 0002; migration 0006 filled it in for the verdicts written before).
"""

from __future__ import annotations

from moderation.db.models import Verdict


class DetectorThresholds:
    """Reads a verdict's threshold: its own column, else a reason that carries one, else None
    (an unprocessable verdict, or one of a detector version nobody recorded)."""

    def for_verdict(self, verdict: Verdict | None) -> float | None:
        if verdict is None:
            return None
        if verdict.threshold is not None:
            return float(verdict.threshold)
        for reason in verdict.reasons or []:
            if isinstance(reason, dict) and isinstance(reason.get("threshold"), int | float):
                return float(reason["threshold"])
        return None
