"""The trained detector at work: swap probabilities of face crops, and of a scan's tracks.

Finding the faces is not its job: the scanner that crops them (``faces.scan.FaceScanner``, with
this checkpoint's ``config.crop``) is built beside it at the edge and handed to the pipeline.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from moderation.detector.aggregate import track_scores, video_score
from moderation.detector.checkpoint import DEFAULT_CHECKPOINT, DetectorConfig, load_checkpoint
from moderation.detector.preprocess import prepare
from moderation.detector.registry import build_model
from moderation.detector.scores import MediaScore
from moderation.errors import ConfigError
from moderation.faces.scan import VideoFaces

BATCH = 64
log = logging.getLogger(__name__)


def use_threads(threads: int) -> None:
    """Torch's intra-op threads for this process: set once, where the process starts."""
    torch.set_num_threads(threads)


def check_device(device: str) -> None:
    """A ``ConfigError`` naming the setting when ``device`` is a GPU this process cannot use."""
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise ConfigError(f"MODERATION_DETECTOR_DEVICE={device}: torch {torch.__version__} "
                              f"sees {torch.cuda.device_count()} CUDA device(s) here")


class Detector:
    """A checkpoint's judgement: its crop geometry, threshold and version, the scores of a
    scan's tracks and of the whole video. Who scores the crops is the subclass's business: its
    own model (``SwapDetector``) or workers elsewhere (``DelegatedDetector``)."""

    config: DetectorConfig

    @property
    def threshold(self) -> float:
        return self.config.threshold

    @property
    def version(self) -> str:
        return self.config.version

    def score_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """Swap probabilities of BGR face crops cut with ``config.crop``, in order."""
        raise NotImplementedError

    def score_scan(self, result: VideoFaces) -> MediaScore:
        """Score the faces of a scan made with this detector's crop geometry."""
        faces = [face for frame_faces in result.faces for face in frame_faces]
        scores = self.score_crops([face.crop for face in faces])
        frames = len(result.frames)
        tracks = track_scores(((face.track, face.time, score)
                               for face, score in zip(faces, scores, strict=True)),
                              {track.id: track.median_side for track in result.tracks}, frames)
        return self.result(result.info.path, video_score(tracks, frames), len(faces),
                           [float(s) for s in scores], tracks)

    def result(self, path, score, faces, frame_scores, tracks) -> MediaScore:
        """A ``MediaScore`` labelled by this detector's threshold."""
        if score is None:
            label = "no_face"
        else:
            label = "fake" if score >= self.threshold else "real"
        return MediaScore(str(path), score, label, faces, frame_scores, tracks)


class SwapDetector(Detector):
    """Scores face crops with the checkpoint's own model, on ``device``."""

    def __init__(self, config: DetectorConfig, model: torch.nn.Module,
                 cache_dir: Path | None = None, device: str = "cpu"):
        self.config = config
        self.device = torch.device(device)
        self.model = model.eval().to(self.device, memory_format=torch.channels_last)
        self._frozen: torch.jit.ScriptModule | None = None
        # Where the frozen model is kept between processes (None: frozen anew in each).
        self.cache_dir = None if cache_dir is None else Path(cache_dir)

    @classmethod
    def load(cls, path: str | Path | None = None, cache_dir: Path | None = None,
             device: str = "cpu") -> SwapDetector:
        """The checkpoint at ``path`` (the shipped one by default); with ``cache_dir``, the
        frozen model is kept there, keyed by the weights and preprocessing (``version``), the
        device and the torch release, so the next process skips tracing and freezing."""
        check_device(device)
        config, state, _ = load_checkpoint(Path(path or DEFAULT_CHECKPOINT))
        model = build_model(config.model, pretrained=False)
        model.load_state_dict(state)
        return cls(config, model, cache_dir, device)

    @torch.inference_mode()
    def score_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        scores = []
        for start in range(0, len(crops), BATCH):
            batch = prepare(crops[start:start + BATCH], self.config)
            logits = self._inference_model(batch.to(self.device, non_blocking=True))
            scores.append(torch.softmax(logits, dim=1)[:, 1].float().cpu().numpy())
        return np.concatenate(scores) if scores else np.empty(0, np.float32)

    def _inference_model(self, example: torch.Tensor):
        """The model traced and frozen on first use: batch norms fold into the convolutions,
        1.8 times the eager throughput on this CPU for the same outputs (to 1e-7)."""
        if self._frozen is None:
            with warnings.catch_warnings():
                # torch 2.x marks TorchScript deprecated; it is still the fastest CPU path here
                # (torch.compile needs a compiler toolchain the worker image does not ship).
                warnings.simplefilter("ignore", FutureWarning)
                self._frozen = self._cached_frozen() or self._freeze(example)
        return self._frozen(example)

    @property
    def frozen_path(self) -> Path | None:
        if self.cache_dir is None:
            return None
        # Frozen on one kind of device, a module runs on that kind only.
        device = "" if self.device.type == "cpu" else f"-{self.device.type}"
        return self.cache_dir / "frozen" / f"{self.version}{device}-torch{torch.__version__}.pt"

    def _cached_frozen(self) -> torch.jit.ScriptModule | None:
        path = self.frozen_path
        if path is None or not path.is_file():
            return None
        try:
            return torch.jit.load(str(path), map_location=self.device)
        except (RuntimeError, OSError, ValueError):
            log.warning("the frozen detector %s could not be read: freezing it again", path)
            return None

    def _freeze(self, example: torch.Tensor) -> torch.jit.ScriptModule:
        frozen = torch.jit.freeze(torch.jit.trace(self.model, example))
        path = self.frozen_path
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
                torch.jit.save(frozen, str(partial))
                partial.replace(path)  # atomic: a process reading it never sees half a file
            except OSError:
                log.warning("could not keep the frozen detector in %s", path, exc_info=True)
        return frozen


CropScoring = Callable[[list[np.ndarray], DetectorConfig], np.ndarray]


class DelegatedDetector(Detector):
    """The checkpoint's judgement with its crops scored by ``score_remotely`` (the worker's
    scoring queue), which is given the crops and the config they must be scored with. The
    model is never loaded here: only its config is read."""

    def __init__(self, config: DetectorConfig, score_remotely: CropScoring):
        self.config = config
        self._score_remotely = score_remotely

    def score_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.empty(0, np.float32)
        return np.asarray(self._score_remotely(crops, self.config), np.float32)
