"""The settings object: the one place that reads the environment.

Every variable has the prefix ``MODERATION_`` (for example ``MODERATION_CACHE_DIR``).
Other modules receive a :class:`Settings` instance instead of reading the environment.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "MODERATION_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None)

    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "moderation",
        description="Where derived data (landmark caches) is kept between runs.",
    )
    landmark_upsample: int = Field(
        default=0,
        ge=0,
        le=2,
        description="Times dlib's face detector upsamples before looking for faces. "
        "0 finds faces of about 80 px and larger, 4x faster than 1.",
    )
    min_image_px: int = Field(
        default=64, ge=16, description="Images whose shorter side is smaller are rejected."
    )

    # Video decoding limits: a video beyond them is refused with a typed error.
    max_video_seconds: float = Field(default=900.0, gt=0, description="Longest video, in seconds "
                                     "(measured, not declared).")
    max_video_pixels: int = Field(default=3840 * 2160, gt=0,
                                  description="Largest frame, width x height.")
    max_video_bytes: int = Field(default=4 * 1024**3, gt=0, description="Largest video file.")
    min_video_side: int = Field(
        default=32, ge=1, description="Frames whose shorter side is smaller hold no face the "
        "detector can judge: such a video is unprocessable (too_small).")
    decode_timeout_seconds: float = Field(default=120.0, gt=0,
                                          description="Bound on decoding one video's samples.")
    probe_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Bound on the probe's pass over the packets, which "
        "measures the real duration instead of trusting the declared one.")
    frames_per_video: int = Field(default=32, ge=1, le=10_000,
                                  description="Frames sampled evenly from a video.")

    # Face detection.
    face_detector: str = Field(default="mtcnn", description="mtcnn or retinaface")
    detection_max_side: int = Field(
        default=640, ge=64, description="Frames are shrunk to this longer side for detection."
    )
    min_face_px: int = Field(
        default=40, ge=8, description="Smallest face side, in original frame pixels, to report."
    )
    min_face_fraction: float = Field(
        default=0.08, ge=0.0, le=1.0,
        description="Smallest face side as a fraction of the frame's shorter side (the larger "
        "of the two minimums applies): 86 px in 1080p. Smaller faces are too small to judge, "
        "and looking for them is what makes detection slow.",
    )
    face_score_threshold: float = Field(default=0.9, ge=0.0, le=1.0,
                                        description="Face detector confidence to report a face.")
    face_recall_fallback: bool = Field(
        default=True, description="Search frames without a face again, larger and with looser "
        "thresholds (MTCNN)."
    )
    retinaface_weights: Path | None = Field(
        default=None,
        description="RetinaFace ResNet-50 weights (retinaface-pytorch's release file); when unset "
        "the torch hub cache is searched.",
    )
    torch_threads: int = Field(default=2, ge=1, description="CPU threads torch uses per process.")
    detector_device: str = Field(
        default="cpu", pattern=r"^(cpu|cuda(:\d+)?)$", description="Where the swap detector "
        "runs: `cpu`, `cuda` or `cuda:N` (a scoring worker's GPU).")

    # The swap detector.
    detector_checkpoint: Path | None = Field(
        default=None, description="A detector checkpoint; the shipped one when unset."
    )

    # The moderation service.
    source_roots: Annotated[list[Path], NoDecode] = Field(
        default=[Path("/data/uploads")],
        description="Folders upload sources must resolve into (symlinks followed); anything "
        "else (another path, a URL) is refused by the API and again by the worker. A JSON list "
        "or paths separated by ':' (os.pathsep).")
    database_url: str = Field(
        default="", description="SQLAlchemy URL (postgresql+psycopg2://...); empty means the "
        "embedded SQLite file in the cache folder."
    )
    broker_url: str = Field(default="amqp://guest:guest@127.0.0.1:5672//",
                            description="Celery broker: RabbitMQ (amqp://) or Redis (redis://)")
    queue: str = Field(default="moderation", description="The Celery queue of scan tasks")
    # Alerts have a queue of their own, consumed by a worker of their own (docker/compose.yaml:
    # alerts), so that a block's alert never waits behind queued scans of minutes each.
    alert_queue: str = Field(default="moderation-alerts",
                             description="The Celery queue of alert deliveries")
    # Scale-out (README: Scaling out). With a scoring queue, scan workers decode, find and
    # crop faces, and hand the crops to the workers of that queue (GPU machines) to score;
    # empty, each scan worker scores in its own process.
    scoring_queue: str = Field(default="", description="The Celery queue scan workers send "
                               "face crops to for scoring; empty: scored in the scan's process.")
    scoring_batch: int = Field(default=64, ge=1, le=1024, description="Face crops per scoring "
                               "task; a video's batches are scored in parallel.")
    scoring_timeout_s: float = Field(default=120.0, gt=0.0, description="How long a scan waits "
                                     "for its crops' scores before it retries later.")
    result_backend: str = Field(default="rpc://", description="Where scoring workers send "
                                "scores back (Celery result backend); nothing else uses it.")
    worker_min_processes: int = Field(default=1, ge=0, description="Pool processes a worker "
                                      "started by `moderation-worker` keeps when idle.")
    worker_max_processes: int = Field(default=2, ge=1, description="Pool processes it grows to "
                                      "while its queues hold work (Celery's autoscaler).")
    # The API's /readyz: how long it waits for each of its checks (the database, the broker)
    # before it reports the check as failing; a check still running is not started again.
    readiness_timeout_s: float = Field(default=3.0, gt=0.0, le=60.0, description=(
        "How long each /readyz check (schema, broker, detector) may take before it fails."))
    api_token: str = Field(default="", description="Bearer token of the HTTP API; required "
                           "by `moderation serve`")
    max_request_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest HTTP request body; larger ones are "
        "refused with 413 before they are read or parsed")
    webhook_url: str = Field(default="", description="Where block alerts are POSTed")
    webhook_attempts: int = Field(default=5, ge=1, description="Deliveries tried per alert.")
    # The receiver verifies alerts with it (README: Alerts). Unset, alerts still go out, unsigned,
    # and every delivery logs a warning saying so: a receiver cannot tell them from forgeries.
    alert_secret: SecretStr = Field(
        default=SecretStr(""), description="Key of the HMAC-SHA256 signature of webhook alerts")
    no_match_action: str = Field(
        default="review", pattern="^(review|block|allow)$",
        description="The gate's answer for a swap of someone not protected")
    pending_allows: bool = Field(
        default=False, description="Whether the gate lets a video out while its scan is "
        "pending; it fails closed by default")
    task_time_limit_s: int = Field(default=600, ge=10, description="A scan task's hard time "
                                   "limit; past it the upload is unprocessable.")
    evidence_per_track: int = Field(default=3, ge=0, le=20, description="Best-scored evidence "
                                    "frames kept per track (a strip of the flagged range besides).")

    # Observability (README: Observability).
    log_format: str = Field(
        default="", pattern="^(|json|text)$", description="Log lines as `json` (one object a "
        "line with upload_id, task_id and stage) or `text`; empty: json for the worker and "
        "the API, text for other CLI commands.")
    log_level: str = Field(
        default="", pattern="^(|(?i:debug|info|warning|error|critical))$", description=(
        "Lowest level logged; empty: INFO for the worker and the API (a worker's `-l` wins), "
        "WARNING for other CLI commands."))
    worker_metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Port on which a worker serves its Prometheus "
        "metrics (all its pool processes together); 0 serves none.")
    worker_metrics_dir: Path | None = Field(
        default=None, description="Folder where a worker's pool processes keep their metric "
        "files (prometheus_client's multiprocess mode), emptied when the worker starts; a new "
        "temporary folder when unset. One folder per worker.")

    # Identity: dlib's 128-d descriptors. A video track is an enrolled person when its
    # descriptor lies under the threshold, the next person is the margin farther, and that
    # share of its faces agree (``faces.identity.TrackRule``; calibrated on video faces by
    # bench/identity_video.py: 0.6, right for photo pairs, matched 65% of stranger tracks to
    # someone in a gallery of 100).
    identity_threshold: float = Field(default=0.35, gt=0.0, le=2.0, description="Whole-face "
                                      "distance that names a person enrolled without inner faces.")
    identity_runner_up_margin: float = Field(default=0.1, ge=0.0, le=2.0, description=(
        "How much farther the second-nearest person must be (whole faces)."))
    identity_agreement: float = Field(default=0.5, ge=0.0, le=1.0, description=(
        "Share of a track's described faces that must have the person nearest."))
    # A match under this but not under the threshold is a resemblance: review, not block.
    identity_candidate_threshold: float = Field(default=0.6, gt=0.0, le=2.0, description="Under "
                                                "it only: a resemblance (review, never block).")
    # The same for inner faces (the part a swap carries), and how much farther the whole face
    # may lie from the person than the inner face for it to be their own face and head
    # (bench/identity_swaps.py).
    identity_inner_threshold: float = Field(default=0.40, gt=0.0, le=2.0, description="Inner-"
                                            "face distance that names a person.")
    identity_inner_candidate_threshold: float = Field(default=0.6, gt=0.0, le=2.0, description=(
        "Inner-face distance under which a face resembles a person."))
    identity_inner_runner_up_margin: float = Field(default=0.05, ge=0.0, le=2.0, description=(
        "How much farther the second-nearest person must be (inner faces)."))
    identity_context_margin: float = Field(default=0.08, ge=0.0, le=2.0, description=(
        "How much farther the whole face may lie than the inner face for the head to be the "
        "person's own (their own video, not a block)."))

    @field_validator("source_roots", mode="before")
    @classmethod
    def _split_roots(cls, value):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part for part in text.split(os.pathsep) if part.strip()]
        return value

    @field_validator("source_roots")
    @classmethod
    def _absolute_roots(cls, roots: list[Path]) -> list[Path]:
        relative = [str(root) for root in roots if not root.is_absolute()]
        if relative:
            raise ValueError(f"source roots must be absolute paths, not {relative}")
        return roots

    @field_validator("worker_max_processes")
    @classmethod
    def _bounds_in_order(cls, largest: int, info: ValidationInfo) -> int:
        smallest = info.data.get("worker_min_processes")
        if smallest is not None and smallest > largest:
            raise ValueError(f"fewer than MODERATION_WORKER_MIN_PROCESSES ({smallest})")
        return largest

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.cache_dir / 'moderation.db'}"


def load_settings() -> Settings:
    """The settings from the environment; a bad value is a ``ConfigError`` naming the variable
    and its value on one line each, not pydantic's traceback."""
    from pydantic import ValidationError

    from moderation.errors import ConfigError

    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ENV_PREFIX + str(error["loc"][0]).upper() if error["loc"] else "settings"
            shown = os.environ.get(name)
            value = f"={shown!r}" if shown is not None else ""
            problems.append(f"{name}{value}: {error['msg']}")
        raise ConfigError("bad setting: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def settings_table() -> str:
    """Every setting as a Markdown table (variable, default, meaning): the README's copy is
    kept equal to it by a test; ``python -m moderation.config`` prints it."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value() and "(set)"
        if name == "cache_dir":
            default = "~/.cache/moderation"
        elif isinstance(default, list):
            default = ":".join(str(item) for item in default)
        shown = f"`{default}`" if default not in ("", None) else "(empty)"
        meaning = " ".join((field.description or "").split()).replace("|", "\\|")
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {shown} | {meaning} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(settings_table(), end="")
