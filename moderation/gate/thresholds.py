"""The operating threshold of the detector version behind a verdict, for the score charts."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from moderation.config import Settings
from moderation.db.models import Verdict

log = logging.getLogger(__name__)


class DetectorThresholds:
    """Thresholds by detector version, read from the configured checkpoint's config once.

    A verdict records its threshold (since migration 0002); for older verdicts a reason that
    carries one wins, then the configured checkpoint's when the versions agree, else None.
    """

    def __init__(self, settings: Settings):
        self._path = settings.detector_checkpoint
        self._known: dict[str, float] | None = None
        self._lock = threading.Lock()

    def for_verdict(self, verdict: Verdict | None) -> float | None:
        if verdict is None:
            return None
        if verdict.threshold is not None:
            return float(verdict.threshold)
        for reason in verdict.reasons or []:
            if isinstance(reason, dict) and isinstance(reason.get("threshold"), int | float):
                return float(reason["threshold"])
        return self.known().get(verdict.detector_version)

    def known(self) -> dict[str, float]:
        with self._lock:
            if self._known is None:
                self._known = self._read()
            return self._known

    def _read(self) -> dict[str, float]:
        # The config alone, without torch or the tensors (moderation.detector.checkpoint).
        from moderation.detector.checkpoint import DEFAULT_CHECKPOINT, read_config
        from moderation.errors import ModerationError

        path = Path(self._path or DEFAULT_CHECKPOINT)
        try:
            config = read_config(path)
        except ModerationError as exc:
            log.warning("no detector threshold for the score charts: %s", exc)
            return {}
        return {config.version: config.threshold}
