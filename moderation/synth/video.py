"""A synthetic face-swap video: one face (A) put into every frame of a clip (B) by the generator.

Each frame's fake is made in the generator's square crop around B's face with the same seed,
so every frame gets the same recipe (the same blur, colour move, mask deformation and fusion),
and pasted back through its mask. Frames where no face is found are kept as they are. The
recipe is saved beside the video. Demos and tests use it; no real deepfake is involved.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from tqdm import tqdm

from moderation.errors import ConfigError, InputError, NoFaceFound
from moderation.faces.landmarks import LandmarkDetector
from moderation.images import read_image
from moderation.synth.framing import face_square
from moderation.synth.generator import FakeGenerator
from moderation.video.reader import ALLOWED_FORMATS, VIDEO_SUFFIXES


@dataclass(frozen=True)
class SwapVideo:
    path: Path
    recipe_path: Path
    frames: int
    swapped: int  # frames where B's face was found and replaced


def swap_video(face: Path, target: Path, out: Path, seed: int, seconds: float = 6.0,
               generator: FakeGenerator | None = None) -> SwapVideo:
    """Put the face of ``face`` (a photo, or the first frame of a video with a face) into the
    first ``seconds`` of ``target``; writes ``out`` (H.264) and ``out``'s ``.recipe.json``."""
    generator = generator or FakeGenerator(mode="pair")
    if generator.crop_scale is None:
        raise ConfigError("a video swap needs the generator's square face crop (crop_scale)")
    landmarks = generator.detector
    source, source_points = _first_face(face, landmarks)
    recipe = None
    frames = swapped = 0
    out.parent.mkdir(parents=True, exist_ok=True)
    with _open_video(target) as reader, av.open(str(out), "w") as writer:
        incoming = reader.streams.video[0]
        rate = Fraction(incoming.average_rate or 25).limit_denominator(1000)
        stream = writer.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = incoming.width, incoming.height, "yuv420p"
        stream.codec_context.options = {"crf": "18"}
        for frame in tqdm(reader.decode(incoming), desc=f"swap into {target.name}",
                          unit="frame", total=int(seconds * float(rate))):
            if frame.time is not None and frame.time >= seconds:
                break
            image = frame.to_ndarray(format="bgr24")
            try:
                points = landmarks(image, str(target))
            except NoFaceFound:
                points = None
            if points is not None:
                result = generator.make(source, image, seed=seed, source_landmarks=source_points,
                                        target_landmarks=points, source_id=str(face),
                                        target_id=f"{target}#{frames}")
                image = _pasted(image, result.fake, result.mask, points, generator.crop_scale)
                recipe = recipe or result.recipe
                swapped += 1
            encoded = av.VideoFrame.from_ndarray(image, format="bgr24")
            encoded.pts, encoded.time_base = frames, 1 / rate
            frames += 1
            for packet in stream.encode(encoded):
                writer.mux(packet)
        for packet in stream.encode():
            writer.mux(packet)
    if recipe is None:
        raise InputError(str(target), f"has no face in its first {seconds:g} s to swap into")
    recipe_path = out.with_suffix(".recipe.json")
    recipe_path.write_text(json.dumps({"face": str(face), "target": str(target),
                                       "seconds": seconds, "frames": frames,
                                       "swapped_frames": swapped,
                                       "recipe": recipe.to_dict()}, indent=2))
    return SwapVideo(out, recipe_path, frames, swapped)


def _first_face(path: Path, landmarks: LandmarkDetector) -> tuple[np.ndarray, np.ndarray]:
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        image = read_image(path)
        return image, landmarks(image, str(path))
    with _open_video(path) as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="bgr24")
            try:
                return image, landmarks(image, str(path))
            except NoFaceFound:
                continue
    raise NoFaceFound(str(path), "no frame shows a face")


def _open_video(path: Path):
    try:
        return av.open(str(path), container_options={
            "format_whitelist": ",".join(ALLOWED_FORMATS), "protocol_whitelist": "file"})
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(str(path), f"is not a video PyAV can open ({exc})") from None


def _pasted(frame: np.ndarray, fake: np.ndarray, mask: np.ndarray, points: np.ndarray,
            crop_scale: float) -> np.ndarray:
    """The generator's square crop of the frame put back where it came from, through its mask
    (the generator frames B's face as ``face_square`` with its crop scale, axis-aligned)."""
    cx, cy, side = face_square(points, crop_scale)
    side = int(round(side))
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    patch = cv2.resize(fake, (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    alpha = cv2.resize(mask, (side, side), interpolation=cv2.INTER_LINEAR)[..., None]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + side, frame.shape[1]), min(top + side, frame.shape[0])
    if x1 <= x0 or y1 <= y0:
        return frame
    inside = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    region = frame[y0:y1, x0:x1].astype(np.float32)
    blended = alpha[inside] * patch[inside] + (1 - alpha[inside]) * region
    out = frame.copy()
    out[y0:y1, x0:x1] = np.clip(blended, 0, 255).astype(np.uint8)
    return out
