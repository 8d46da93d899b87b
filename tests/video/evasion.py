"""Files that hide part of their content from a sampler that trusts the obvious reading: MPEG-TS
files joined end to end (the timestamps start again in the second part), a second video stream,
a resolution change mid-stream. Each is built from pieces: (images, from s, to s) of a clip, or
numbered frames."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.video.hostile import clip_images, counted_frame  # noqa: F401 (re-exported)


def counted_images(start: int, count: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    return (counted_frame(start + i, *size) for i in range(count))


def _add_video(container, size: tuple[int, int], fps: int):
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
    stream.codec_context.options = {"preset": "ultrafast", "crf": "18"}
    return stream


def _encode(container, stream, images: Iterable[np.ndarray], fps: int, first_pts: int = 0,
            encoder=None) -> int:
    """Encode ``images`` into ``stream`` (through ``encoder`` when given: a second encoder at
    another size); the next free pts."""
    encoder = encoder or stream.codec_context
    pts = first_pts
    for image in images:
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = pts, Fraction(1, fps)
        pts += 1
        for packet in encoder.encode(frame):
            packet.stream = stream
            container.mux(packet)
    for packet in encoder.encode(None):
        packet.stream = stream
        container.mux(packet)
    return pts


def transport_stream(path: Path, images: Iterable[np.ndarray], size: tuple[int, int],
                     fps: int = 25) -> Path:
    with av.open(str(path), "w", format="mpegts") as container:
        _encode(container, _add_video(container, size, fps), images, fps)
    return path


def joined(path: Path, parts: list[Iterable[np.ndarray]], size=(640, 360), fps: int = 25) -> Path:
    """MPEG-TS files, one per part, joined byte for byte (``cat a.ts b.ts``): each part's
    timestamps start where the first part's did."""
    data = b""
    for index, images in enumerate(parts):
        part = path.with_name(f"{path.stem}.part{index}.ts")
        data += transport_stream(part, images, size, fps).read_bytes()
        part.unlink()
    path.write_bytes(data)
    return path


def two_streams(path: Path, first: Iterable[np.ndarray], second: Iterable[np.ndarray],
                size=(640, 360), fps: int = 25) -> Path:
    """Matroska with two video streams over the same time: a player may show either."""
    first, second = list(first), list(second)
    with av.open(str(path), "w", format="matroska") as container:
        streams = [_add_video(container, size, fps), _add_video(container, size, fps)]
        for stream, images in zip(streams, (first, second), strict=True):
            _encode(container, stream, images, fps)
    return path


def resized(path: Path, parts: list[tuple[Iterable[np.ndarray], tuple[int, int]]],
            fps: int = 25) -> Path:
    """One MPEG-TS video stream whose size changes at each part (in-band parameter sets): the
    header declares only the first size."""
    with av.open(str(path), "w", format="mpegts") as container:
        stream = _add_video(container, parts[0][1], fps)
        pts = 0
        for index, (images, size) in enumerate(parts):
            encoder = None
            if index:
                encoder = av.CodecContext.create("libx264", "w")
                encoder.width, encoder.height, encoder.pix_fmt = *size, "yuv420p"
                encoder.time_base, encoder.framerate = Fraction(1, fps), fps
                encoder.options = {"preset": "ultrafast", "crf": "18"}
            pts = _encode(container, stream, images, fps, pts, encoder)
    return path
