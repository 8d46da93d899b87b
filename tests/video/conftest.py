"""Videos the tests encode themselves with PyAV: rotation, variable frame rate, odd sizes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest


def numbered_frame(index: int, width: int, height: int) -> np.ndarray:
    """A frame whose left half is white, with its index encoded in its grey level."""
    image = np.full((height, width, 3), (index * 7) % 200 + 20, np.uint8)
    image[:, : width // 2] = 255
    return image


def encode(path: Path, count: int = 30, width: int = 64, height: int = 48, fps: int = 25,
           rotation: int | None = None, pts_ms: list[int] | None = None, gop: int = 10,
           pix_fmt: str = "yuv420p", codec: str = "libx264", audio: bool = False) -> Path:
    """Encode ``count`` numbered frames; ``pts_ms`` gives explicit (variable) timestamps."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.gop_size = gop
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if audio:
            sound = container.add_stream("aac", rate=16000)
        for index in range(count):
            frame = av.VideoFrame.from_ndarray(numbered_frame(index, width, height),
                                               format="bgr24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[index], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio:
            _add_silence(container, sound)
    return path


def still_clip(path: Path, image: np.ndarray, count: int = 10) -> Path:
    """``count`` frames of one image at 10 fps (H.264)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.height, stream.width = image.shape[:2]
        stream.pix_fmt = "yuv420p"
        for _ in range(count):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _add_silence(container, stream, seconds: float = 1.0) -> None:
    samples = np.zeros((1, int(stream.rate * seconds)), np.float32)
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
    frame.sample_rate = stream.rate
    for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        _add_silence(container, container.add_stream("aac", rate=16000))
    return path


@pytest.fixture()
def clip(tmp_path) -> Path:
    return encode(tmp_path / "clip.mp4")
