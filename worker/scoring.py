"""Scoring on a queue of its own: scan workers (CPU) decode, find and crop faces, and hand the
crops to the workers of ``settings.scoring_queue`` (GPU machines, ``moderation-worker
scoring``), which score them with their own model and send the scores back over the result
backend (``settings.result_backend``, RPC over the broker by default).

Crops travel in the task message, so scoring workers need neither the uploads' storage nor the
database: only the broker and the checkpoint. A batch is the crops resized to the model's
input (what ``preprocess.prepare`` does first anyway, so the scores are the same as in
process), stacked, saved as an ``.npy`` array and zlib-compressed: about 17 kB a face.
"""

from __future__ import annotations

import base64
import io
import zlib

import cv2
import numpy as np
from celery import Celery, group
from celery.exceptions import TimeoutError as ResultTimeout

from moderation.config import Settings
from moderation.detector.checkpoint import DetectorConfig
from moderation.errors import ModerationError

SCORE_TASK = "worker.tasks.score_crops"
# The largest batch a scoring worker unpacks (settings.scoring_batch is at most this): a message
# cannot make it allocate more than about 80 MB however it is forged.
MAX_BATCH = 1024
MAX_SIDE = 512


class ScoringUnavailable(ModerationError):
    """No scoring worker answered in time; transient (``worker.base.TRANSIENT``): the scan
    retries later, when a scoring worker may be back."""


class DetectorMismatch(ModerationError):
    """A scoring worker runs another checkpoint than the scan that sent it crops: its scores
    would be filed under the wrong detector version. Transient: a rolling upgrade, half done,
    converges."""


class BadBatch(ModerationError):
    """A scoring message whose crops cannot be read."""


def pack_crops(crops: list[np.ndarray], config: DetectorConfig) -> str:
    """BGR crops of any size as one ASCII blob of ``config.input_size`` squares."""
    size = config.input_size
    stacked = np.empty((len(crops), size, size, 3), np.uint8)
    for index, crop in enumerate(crops):
        if crop.shape[:2] != (size, size):
            # The resize preprocess.prepare would make: the scores do not change.
            shrink = crop.shape[0] > size
            crop = cv2.resize(crop, (size, size),
                              interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        stacked[index] = crop
    buffer = io.BytesIO()
    np.save(buffer, stacked, allow_pickle=False)
    return base64.b64encode(zlib.compress(buffer.getvalue(), 3)).decode("ascii")


def unpack_crops(blob: str) -> list[np.ndarray]:
    """The crops of :func:`pack_crops`; a ``BadBatch`` for anything else (the message came over
    the broker: its size is bounded before anything is decompressed in full)."""
    try:
        packed = base64.b64decode(blob.encode("ascii"), validate=True)
        limit = 128 + MAX_BATCH * MAX_SIDE * MAX_SIDE * 3
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, limit)
        if inflater.unconsumed_tail:
            raise BadBatch(f"a scoring batch inflates past {limit} bytes")
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, TypeError, zlib.error, UnicodeError, AttributeError) as exc:
        raise BadBatch(f"a scoring batch cannot be read: {exc}") from None
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3 or \
            not 0 < array.shape[1] == array.shape[2] <= MAX_SIDE:
        raise BadBatch(f"a scoring batch holds a {array.dtype} array of shape {array.shape}, "
                       "not (n, side, side, 3) uint8 crops")
    return list(array)


def score_batch(detector, blob: str, detector_version: str) -> list[float]:
    """What a scoring worker does with a batch: refuse it when the sender's detector is
    another, score it otherwise."""
    if detector.version != detector_version:
        raise DetectorMismatch(f"the scan expects detector {detector_version}; this scoring "
                               f"worker runs {detector.version}")
    return [float(score) for score in detector.score_crops(unpack_crops(blob))]


class QueuedScoring:
    """A ``CropScoring`` that sends a video's crops to the scoring queue in batches, scored in
    parallel by whichever scoring workers are free, and waits for all their scores."""

    def __init__(self, app: Celery, settings: Settings):
        self.app, self.settings = app, settings

    def __call__(self, crops: list[np.ndarray], config: DetectorConfig) -> np.ndarray:
        batch, queue = self.settings.scoring_batch, self.settings.scoring_queue
        timeout = self.settings.scoring_timeout_s
        score = self.app.signature(SCORE_TASK)
        batches = group(score.clone(args=(pack_crops(crops[start:start + batch], config),
                                          config.version))
                        for start in range(0, len(crops), batch))
        # Past the timeout the scan has retried; a batch nobody took by then is dropped.
        pending = batches.apply_async(queue=queue, expires=timeout)
        try:
            # Waiting in a task is what the scan is for here: it holds the video's faces until
            # the scores come back. The scoring task runs on other workers, so it cannot wait
            # for itself.
            scores = pending.get(timeout=timeout, disable_sync_subtasks=False, propagate=True)
        except ResultTimeout:
            raise ScoringUnavailable(
                f"no scoring worker on queue {queue!r} scored {len(crops)} face crops within "
                f"{timeout:g} s (MODERATION_SCORING_TIMEOUT_S)") from None
        except (DetectorMismatch, BadBatch):
            raise
        except Exception as exc:
            # The scoring worker broke (its weights, its GPU, its time limit): a fault of that
            # worker, not of this video; the scan retries, perhaps on a sound one.
            raise ScoringUnavailable(f"a scoring worker on queue {queue!r} failed: "
                                     f"{type(exc).__name__}: {exc}") from exc
        finally:
            pending.forget()
        return np.asarray([value for part in scores for value in part], np.float32)
