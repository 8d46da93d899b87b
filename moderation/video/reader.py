"""Reading videos with PyAV: what a file holds, which frames to look at, and those frames.

Sampling seeks to the keyframe before a sample only when that keyframe lies ahead of where the
decoder already is; otherwise it decodes forward. Seeking before every sample decodes each GOP's
start again and again (about 9x slower on the shared clips); decoding everything wastes the
frames between samples.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from moderation.config import Settings
from moderation.errors import (
    CorruptVideo,
    DecodeTimeout,
    InputError,
    NoVideoStream,
    VideoTooLarge,
    VideoTooLong,
)

# av.error.FFmpegError covers every decoding failure (invalid data, EOF in a packet, ...).
_DECODE_ERRORS = (av.error.FFmpegError, ValueError)


@dataclass(frozen=True)
class VideoLimits:
    max_seconds: float = 900.0
    max_pixels: int = 3840 * 2160
    max_bytes: int = 4 * 1024**3
    decode_timeout: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoLimits:
        return cls(settings.max_video_seconds, settings.max_video_pixels,
                   settings.max_video_bytes, settings.decode_timeout_seconds)


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds. ``width`` and ``height`` are as displayed (after rotation)."""

    path: str
    duration: float
    fps: float
    width: int
    height: int
    rotation: int
    frame_count: int
    codec: str
    pixel_format: str
    start: float
    keyframes: tuple[float, ...]
    has_audio: bool


@dataclass(frozen=True)
class Frame:
    """A decoded frame, BGR uint8 in display orientation, at ``time`` seconds from the start."""

    time: float
    image: np.ndarray


def probe(path: str | Path, limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """Open a video, check the limits, find its keyframes and decode its first frame.

    Raises ``CorruptVideo`` (unreadable, no decodable frame), ``NoVideoStream``,
    ``VideoTooLong`` or ``VideoTooLarge``, each naming the file.
    """
    name = str(path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or exc})") from None
    if size > limits.max_bytes:
        raise VideoTooLarge(name, f"is {size / 1e6:.0f} MB; the limit is "
                                  f"{limits.max_bytes / 1e6:.0f} MB")
    with _open(name) as container:
        stream = _video_stream(container, name)
        codec = stream.codec_context
        if codec.width * codec.height > limits.max_pixels:
            raise VideoTooLarge(name, f"is {codec.width}x{codec.height}; the limit is "
                                      f"{limits.max_pixels} pixels a frame")
        keyframes = _keyframes(container, stream, name)
        duration = _duration(container, stream)
        if duration > limits.max_seconds:
            raise VideoTooLong(name, f"lasts {duration:.0f} s; the limit is "
                                     f"{limits.max_seconds:.0f} s")
        first = _first_frame(container, stream, name)
        rotation = int(round(first.rotation or 0)) % 360
        width, height = codec.width, codec.height
        if rotation in (90, 270):
            width, height = height, width
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        start = _seconds(stream.start_time, stream.time_base) if stream.start_time else 0.0
        return VideoInfo(
            path=name, duration=duration, fps=fps, width=width, height=height,
            rotation=rotation, frame_count=stream.frames or int(round(duration * fps)),
            codec=codec.name, pixel_format=first.format.name, start=start,
            keyframes=tuple(keyframes), has_audio=bool(container.streams.audio))


def sample_times(info: VideoInfo, count: int | None = 32, rate: float | None = None,
                 keyframes_only: bool = False) -> list[float]:
    """When to look: ``count`` evenly spread times (the middle of equal slices), one every
    ``1 / rate`` seconds, or the keyframes."""
    if keyframes_only:
        return list(info.keyframes)
    if rate is not None:
        step = 1.0 / rate
        return [float(t) for t in np.arange(info.start + step / 2, info.start + info.duration,
                                            step)]
    slice_length = info.duration / count
    return [info.start + (i + 0.5) * slice_length for i in range(count)]


def read_frames(info: VideoInfo, times: Sequence[float], limits: VideoLimits = VideoLimits(),
                keyframes_only: bool = False) -> list[Frame]:
    """The first decodable frame at or after each time (sorted), with as few seeks as possible.

    A truncated file gives the frames before the damage; no frame at all is ``CorruptVideo``.
    """
    deadline = time.monotonic() + limits.decode_timeout
    frames: list[Frame] = []
    wanted = sorted(times)
    with _open(info.path) as container:
        stream = _video_stream(container, info.path)
        stream.thread_type = "AUTO"  # frame threads: the decoder is the bottleneck
        # Non-reference frames (most B-frames) are never needed to decode others: skipping them
        # saves 25-30% of the decoding, and a sample lands at most a frame or two later.
        stream.codec_context.skip_frame = "NONKEY" if keyframes_only else "NONREF"
        decoded = None
        position = -np.inf  # time of the last decoded frame
        for target in wanted:
            keyframe = _keyframe_before(info.keyframes, target)
            if decoded is None or (keyframe is not None and position < keyframe <= target):
                decoded = _decode_from(container, stream, keyframe)
                position = -np.inf
            frame = None
            try:
                for candidate in decoded:
                    if time.monotonic() > deadline:
                        raise DecodeTimeout(info.path, f"decoding took over "
                                                       f"{limits.decode_timeout:.0f} s")
                    position = _seconds(candidate.pts, stream.time_base)
                    if position >= target - 1e-6:
                        frame = candidate
                        break
            except _DECODE_ERRORS:
                break  # damaged from here on: keep what was decoded
            if frame is None:
                break  # past the last frame
            frames.append(Frame(position, _to_bgr(frame)))
    if not frames:
        raise CorruptVideo(info.path, "no frame could be decoded at the sampled times")
    return frames


def _open(name: str):
    try:
        return av.open(name, metadata_errors="ignore")
    except _DECODE_ERRORS + (OSError,) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise CorruptVideo(name, f"is not a video PyAV can open ({reason})") from None


def _video_stream(container, name: str):
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        raise NoVideoStream(name, f"has no video stream ({', '.join(kinds)})")
    return container.streams.video[0]


def _keyframes(container, stream, name: str) -> list[float]:
    """Keyframe times from a pass over the packets (no decoding: milliseconds a clip)."""
    times = []
    try:
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.pts is not None:
                times.append(_seconds(packet.pts, stream.time_base))
    except _DECODE_ERRORS:
        pass  # a damaged tail: the keyframes before it still count
    container.seek(0, stream=stream) if times else None
    return sorted(times)


def _duration(container, stream) -> float:
    if stream.duration:
        return _seconds(stream.duration, stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _first_frame(container, stream, name: str):
    try:
        container.seek(0, stream=stream)
        for frame in container.decode(stream):
            return frame
    except _DECODE_ERRORS as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise CorruptVideo(name, f"its first frame cannot be decoded ({reason})") from None
    raise CorruptVideo(name, "contains no decodable video frame")


def _keyframe_before(keyframes: Sequence[float], target: float) -> float | None:
    index = int(np.searchsorted(keyframes, target + 1e-6)) - 1
    return keyframes[index] if index >= 0 else None


def _decode_from(container, stream, keyframe: float | None) -> Iterator:
    offset = 0 if keyframe is None else int(round(keyframe / stream.time_base))
    container.seek(offset, stream=stream, backward=True)
    return (frame for frame in container.decode(stream) if frame.pts is not None)


def _to_bgr(frame) -> np.ndarray:
    image = frame.to_ndarray(format="bgr24")
    quarter_turns = int(round((frame.rotation or 0) / 90)) % 4
    # The display matrix rotates counter-clockwise, as np.rot90 does.
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def _seconds(value: int, time_base: Fraction) -> float:
    return float(value * time_base)
