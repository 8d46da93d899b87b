"""Reading videos with PyAV: what a file holds, which frames to look at, and those frames.

Files are opened with a demuxer allow-list and FFmpeg's ``file`` protocol only: FFmpeg picks a
demuxer by content, not by name, and several follow references inside the file (an ffconcat list
named ``.mp4`` reads other files, HLS and SDP open network addresses, image2 reads numbered
files). The duration is measured from the packets, not taken from the header, which a file may
leave out or fake; the pixel limit applies to every decoded frame, since the size may change
mid-stream.

Sampling seeks to the keyframe before a sample only when that keyframe lies ahead of where the
decoder already is; otherwise it decodes forward. Seeking before every sample decodes each GOP's
start again and again (about 9x slower on the shared clips); decoding everything wastes the
frames between samples.
"""

from __future__ import annotations

import itertools
import math
import os
import stat
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
    DanglingSymlink,
    DecodeTimeout,
    InputError,
    NotAFile,
    NoVideoStream,
    TooManyStreams,
    UnsupportedFormat,
    VideoTooLarge,
    VideoTooLong,
    VideoTooSmall,
)

# av.error.FFmpegError covers every decoding failure (invalid data, EOF in a packet, ...).
# IndexError and KeyError come from PyAV's stream bookkeeping on damaged MPEG-TS (a packet of a
# stream that vanished).
_DECODE_ERRORS = (av.error.FFmpegError, ValueError, IndexError, KeyError)

# The demuxers a video may be opened with (FFmpeg's short names; "mov" is mp4/mov/3gp and
# "h264" raw Annex B streams).
ALLOWED_FORMATS = ("mov", "mp4", "matroska", "webm", "avi", "mpegts", "flv", "h264")
ALLOWED_FORMATS_TEXT = "mp4/mov, matroska/webm, avi, mpegts, flv or raw H.264"
# File names taken for videos when a folder is listed (training, evaluation, demos).
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm"})
# Opening a file starts a decoder for each stream: the demuxer keeps at most this many, and a
# file that reaches it is refused (a real upload has a video and a few audio or subtitle tracks).
MAX_STREAMS = 64
_OPEN_OPTIONS = {"format_whitelist": ",".join(ALLOWED_FORMATS), "protocol_whitelist": "file",
                 "max_streams": str(MAX_STREAMS)}

# Every video stream of a file is judged (a player may show any of them); more than this many
# is no upload a person makes.
MAX_VIDEO_STREAMS = 4


@dataclass(frozen=True)
class VideoLimits:
    max_seconds: float = 900.0
    max_pixels: int = 3840 * 2160
    max_bytes: int = 4 * 1024**3
    decode_timeout: float = 120.0
    min_side: int = 32
    probe_timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoLimits:
        return cls(settings.max_video_seconds, settings.max_video_pixels,
                   settings.max_video_bytes, settings.decode_timeout_seconds,
                   settings.min_video_side, settings.probe_timeout_seconds)


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
    # False for streams without timestamps (raw H.264): frames are timed by their count and
    # the file is read forward only (it cannot seek).
    timed: bool = True
    # False when the timestamps jump back (MPEG-TS files joined end to end): times run on
    # across the jump and the file is read forward (a seek by time would land in either part).
    continuous: bool = True
    # Which of the file's video streams this is, and how many it has: each is judged.
    stream: int = 0
    video_streams: int = 1

    @property
    def seekable(self) -> bool:
        return self.timed and self.continuous


@dataclass(frozen=True)
class Frame:
    """A decoded frame, BGR uint8 in display orientation, at ``time`` seconds from the start."""

    time: float
    image: np.ndarray


def probe(path: str | Path, limits: VideoLimits = VideoLimits(), stream: int = 0) -> VideoInfo:
    """Open a video, check the limits, measure its duration and keyframes from the packets and
    decode its first frame; ``stream`` chooses among the video streams.

    Raises ``CorruptVideo`` (unreadable, no decodable frame), ``UnsupportedFormat``,
    ``NoVideoStream``, ``VideoTooLong``, ``VideoTooLarge``, ``VideoTooSmall``,
    ``DecodeTimeout``, ``NotAFile`` or ``DanglingSymlink``, each naming the file.
    """
    name = str(path)
    size = _regular_file_size(name)
    if size > limits.max_bytes:
        raise VideoTooLarge(name, f"is {size / 1e6:.0f} MB; the limit is "
                                  f"{limits.max_bytes / 1e6:.0f} MB")
    index = stream
    with _open(name, limits.max_pixels) as container:
        stream = _video_stream(container, name, index)
        video_streams = _count_video_streams(container, name)
        codec = _codec(stream, name)
        if codec.width and codec.height:
            _check_size(name, codec.width, codec.height, limits)
        declared = _declared_duration(container, stream)
        if declared > limits.max_seconds:
            raise VideoTooLong(name, f"lasts {declared:.0f} s; the limit is "
                                     f"{limits.max_seconds:.0f} s")
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        packets = _packets(container, stream, name, limits, fps)
        codec_name = codec.name
        frames = stream.frames
        has_audio = bool(container.streams.audio)
    # Measured, so a missing or false declared duration cannot hide the rest of the video.
    duration = packets.duration if packets.duration > 0 else declared
    if duration > limits.max_seconds:
        raise VideoTooLong(name, f"lasts {duration:.0f} s; the limit is "
                                 f"{limits.max_seconds:.0f} s")
    # A fresh demuxer: raw streams cannot seek back.
    with _open(name, limits.max_pixels) as container:
        stream = _video_stream(container, name, index)
        _codec(stream, name)
        first = _first_frame(container, stream, name)
        _check_size(name, first.width, first.height, limits)
        rotation = _quarter_turns(first.rotation) * 90
        pixel_format = first.format.name
        width, height = first.width, first.height
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(
        path=name, duration=duration, fps=fps, width=width, height=height,
        rotation=rotation, frame_count=frames or int(round(duration * fps)),
        codec=codec_name, pixel_format=pixel_format, start=packets.start,
        keyframes=tuple(packets.keyframes), has_audio=has_audio, timed=packets.timed,
        continuous=packets.continuous, stream=index, video_streams=video_streams)


def probe_streams(path: str | Path, limits: VideoLimits = VideoLimits()) -> list[VideoInfo]:
    """``probe`` of each video stream. A stream after the first whose frames are too small to
    show a face (cover art, say) is left out; it cannot hide a swap."""
    first = probe(path, limits)
    if first.video_streams > MAX_VIDEO_STREAMS:
        raise UnsupportedFormat(str(path), f"has {first.video_streams} video streams; at most "
                                           f"{MAX_VIDEO_STREAMS} are judged")
    infos = [first]
    for index in range(1, first.video_streams):
        try:
            infos.append(probe(path, limits, index))
        except VideoTooSmall:
            continue
    return infos


def read_streams(infos: Sequence[VideoInfo], count: int | None = 32, rate: float | None = None,
                 keyframes_only: bool = False, limits: VideoLimits = VideoLimits()) -> list[Frame]:
    """Samples of every stream on one timeline, each stream after the one before it (as if
    they played one after another); ``count`` is shared by their durations, at least 4 a
    stream. One stream is sampled and timed exactly as ``read_frames`` does."""
    if len(infos) == 1:
        info = infos[0]
        return read_frames(info, sample_times(info, count, rate, keyframes_only), limits,
                           keyframes_only)
    total = sum(info.duration for info in infos) or 1.0
    frames: list[Frame] = []
    offset = infos[0].start
    for index, info in enumerate(infos):
        share = None if count is None else max(4, round(count * info.duration / total))
        times = sample_times(info, share, rate, keyframes_only)
        for frame in read_frames(info, times, limits, keyframes_only):
            at = frame.time if index == 0 else offset + frame.time - info.start
            frames.append(Frame(at, frame.image))
        offset += info.duration
    return frames


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
    A seek that lands past the keyframe it asked for (MPEG-TS seeks by bisecting timestamps and
    can overshoot by a GOP, or to the end) would leave samples out: from then on the file is
    read forward from its start instead, so every sample still comes from where it belongs.
    """
    deadline = time.monotonic() + limits.decode_timeout
    frames: list[Frame] = []
    wanted = sorted(times)
    container = _open(info.path, limits.max_pixels)
    try:
        stream = _prepared(container, info, keyframes_only)
        decoded = None
        seekable = info.seekable
        position = -np.inf  # time of the last decoded frame
        latest = None  # the last decoded frame: all a one-frame video has before its samples
        for target in wanted:
            keyframe = _keyframe_before(info.keyframes, target) if seekable else None
            if decoded is None and keyframe == (info.keyframes[0] if info.keyframes else None):
                keyframe = None  # a fresh demuxer is at the start already
            frame = None
            try:
                if decoded is None or (keyframe is not None and position < keyframe <= target):
                    decoded = _seek_to(container, stream, keyframe, info)
                    if decoded is None:  # overshot: start again, forward only
                        container.close()
                        container = _open(info.path, limits.max_pixels)
                        stream = _prepared(container, info, keyframes_only)
                        decoded, seekable = _decode_from(container, stream, None, info), False
                    position = -np.inf
                for position, candidate in decoded:
                    if time.monotonic() > deadline:
                        raise DecodeTimeout(info.path, f"decoding took over "
                                                       f"{limits.decode_timeout:.0f} s")
                    # Every frame, not just the first: the size can change mid-stream.
                    _check_size(info.path, candidate.width, candidate.height, limits,
                                f"has a frame at {position:.2f} s of", small_ok=True)
                    latest = (position, candidate)
                    if position >= target - 1e-6:
                        frame = candidate
                        break
            except _DECODE_ERRORS:
                break  # damaged from here on: keep what was decoded
            if frame is None:
                break  # past the last frame
            frames.append(Frame(position, _to_bgr(frame)))
        if not frames and latest is not None:
            # Every sample fell after the frames (a video of one frame lasts one tick, and its
            # samples lie inside that tick): the last frame is the one shown then.
            frames.append(Frame(latest[0], _to_bgr(latest[1])))
    finally:
        container.close()
    if not frames:
        raise CorruptVideo(info.path, "no frame could be decoded at the sampled times")
    return frames


def _prepared(container, info: VideoInfo, keyframes_only: bool):
    stream = _video_stream(container, info.path, info.stream)
    _codec(stream, info.path)
    stream.thread_type = "AUTO"  # frame threads: the decoder is the bottleneck
    # Non-reference frames (most B-frames) are never needed to decode others: skipping them
    # saves 25-30% of the decoding, and a sample lands at most a frame or two later. Frames of
    # an untimed stream are timed by their count, so none may be skipped there.
    if info.timed:
        stream.codec_context.skip_frame = "NONKEY" if keyframes_only else "NONREF"
    return stream


def _seek_to(container, stream, keyframe: float | None, info: VideoInfo) -> Iterator | None:
    """(time, frame) from ``keyframe`` on; None when the demuxer landed after it."""
    decoded = _decode_from(container, stream, keyframe, info)
    if keyframe is None:
        return decoded
    first = next(decoded, None)
    if first is None or first[0] > keyframe + 1e-3:
        return None
    return itertools.chain([first], decoded)


def _regular_file_size(name: str) -> int:
    """The file's size; a directory, FIFO (which would hold a decoder forever), device or
    dangling symlink is refused by name before FFmpeg sees it."""
    try:
        status = os.stat(name)
    except FileNotFoundError:
        if os.path.lexists(name):
            raise DanglingSymlink(name, "is a symbolic link to a file that does not exist") \
                from None
        raise InputError(name, "cannot be read (no such file)") from None
    except OSError as exc:
        raise InputError(name, f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(status.st_mode):
        from moderation.sources import file_kind

        raise NotAFile(name, f"is {file_kind(status.st_mode)}, not a regular file")
    return status.st_size


def _open(name: str, max_pixels: int):
    try:
        # max_pixels reaches the decoder that opening runs to learn the pixel format: without
        # it a 140-byte stream declaring 16000x16000 took 5 s and 1.1 GB before the size check.
        container = av.open(name, metadata_errors="ignore", container_options=_OPEN_OPTIONS,
                            options={"max_pixels": str(max_pixels)})
    except av.error.ArgumentError:
        # What FFmpeg answers for a demuxer outside the whitelist (concat, hls, svg_pipe...).
        raise UnsupportedFormat(name, f"is not a video in an allowed format "
                                      f"({ALLOWED_FORMATS_TEXT})") from None
    except _DECODE_ERRORS + (OSError,) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise CorruptVideo(name, f"is not a video PyAV can open ({reason})") from None
    if not set(container.format.name.split(",")) & set(ALLOWED_FORMATS):
        container.close()
        raise UnsupportedFormat(name, f"is {container.format.name}, not a video in an allowed "
                                      f"format ({ALLOWED_FORMATS_TEXT})")
    if len(container.streams) >= MAX_STREAMS:
        container.close()
        raise TooManyStreams(name, f"has {MAX_STREAMS} streams or more; at most "
                                   f"{MAX_STREAMS - 1} are read")
    return container


def _video_streams(container, name: str) -> list:
    try:
        streams = list(container.streams.video)
    except _DECODE_ERRORS as exc:
        raise CorruptVideo(name, f"its streams cannot be read ({exc})") from None
    if not streams:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        raise NoVideoStream(name, f"has no video stream ({', '.join(kinds)})")
    return streams


def _video_stream(container, name: str, index: int = 0):
    streams = _video_streams(container, name)
    if index >= len(streams):
        raise CorruptVideo(name, f"has no video stream {index} (it has {len(streams)})")
    return streams[index]


def _count_video_streams(container, name: str) -> int:
    return len(_video_streams(container, name))


def _codec(stream, name: str):
    """The stream's decoder context; None when FFmpeg has no decoder for it (an SVG, say)."""
    codec = stream.codec_context
    if codec is None:
        raise CorruptVideo(name, "its video stream has no decoder here")
    return codec


def _check_size(name: str, width: int, height: int, limits: VideoLimits,
                what: str = "is", small_ok: bool = False) -> None:
    if width * height > limits.max_pixels:
        raise VideoTooLarge(name, f"{what} {width}x{height}; the limit is "
                                  f"{limits.max_pixels} pixels a frame")
    if min(width, height) < limits.min_side and not small_ok:
        raise VideoTooSmall(name, f"{what} {width}x{height}; frames need at least "
                                  f"{limits.min_side} px a side to show a face that can be "
                                  "judged")


@dataclass(frozen=True)
class _Packets:
    start: float
    duration: float
    keyframes: list[float]
    timed: bool
    continuous: bool = True


# A decoding timestamp further back than this starts a new part (files joined end to end);
# reordering never moves decoding timestamps back at all.
_JUMP_BACK_SECONDS = 0.5


def _packets(container, stream, name: str, limits: VideoLimits, fps: float) -> _Packets:
    """Keyframes and the real time span from one pass over the video packets (no decoding:
    milliseconds a clip), bounded in time and stopped as soon as the video runs past the
    duration limit (a header may declare 10 s for three hours)."""
    deadline = time.monotonic() + limits.probe_timeout
    tick = 1.0 / fps if fps > 0 else 0.04
    keyframes: list[float] = []
    first = last = None
    length = tick
    clock = 0.0  # for packets without timestamps
    timed = continuous = True
    offset = 0.0  # added to the timestamps of the part after a jump back
    previous = None  # the last corrected decoding timestamp
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the demuxer's final flush packet
            if time.monotonic() > deadline:
                raise DecodeTimeout(name, f"reading its packets took over "
                                          f"{limits.probe_timeout:.0f} s")
            stamp = packet.pts if packet.pts is not None else packet.dts
            length = _seconds(packet.duration, stream.time_base) if packet.duration else tick
            if stamp is None:
                timed = False
                at, clock = clock, clock + length
            else:
                order = packet.dts if packet.dts is not None else stamp
                decoding = _seconds(order, stream.time_base) + offset
                if previous is not None and decoding < previous - _JUMP_BACK_SECONDS:
                    offset += previous + length - decoding
                    decoding, continuous = previous + length, False
                previous = decoding
                at = _seconds(stamp, stream.time_base) + offset
            first = at if first is None else min(first, at)
            last = at if last is None else max(last, at)
            if last - first > limits.max_seconds:
                raise VideoTooLong(name, f"runs past {limits.max_seconds:.0f} s, the limit "
                                         "(measured from its packets)")
            if packet.is_keyframe:
                keyframes.append(at)
    except _DECODE_ERRORS:
        pass  # a damaged tail: what came before it still counts
    if first is None:
        return _Packets(0.0, 0.0, [], True)
    # The latest frame lasts as long as the last packet in decoding order says (a packet's
    # duration is its distance to the next in decoding order, which B-frames reorder).
    duration = last - first + length
    if not timed:
        return _Packets(0.0, duration, [], False)
    return _Packets(first, duration, sorted(keyframes), True, continuous)


def _declared_duration(container, stream) -> float:
    if stream.duration:
        return _seconds(stream.duration, stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _first_frame(container, stream, name: str):
    try:
        for frame in container.decode(stream):
            return frame
    except _DECODE_ERRORS as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise CorruptVideo(name, f"its first frame cannot be decoded ({reason})") from None
    raise CorruptVideo(name, "contains no decodable video frame")


def _keyframe_before(keyframes: Sequence[float], target: float) -> float | None:
    index = int(np.searchsorted(keyframes, target + 1e-6)) - 1
    return keyframes[index] if index >= 0 else None


def _decode_from(container, stream, keyframe: float | None, info: VideoInfo) -> Iterator:
    """(time, frame) from ``keyframe`` on; from where the demuxer is when None (the start of a
    freshly opened file: raw streams cannot seek)."""
    if keyframe is not None:
        container.seek(int(round(keyframe / stream.time_base)), stream=stream, backward=True)
    tick = 1.0 / info.fps if info.fps > 0 else 0.04
    return _timed_frames(container, stream, info.timed, info.start, tick)


def _timed_frames(container, stream, timed: bool, start: float, tick: float) -> Iterator:
    """(time, frame) in presentation order; after a jump back of the timestamps (a second part
    of a joined file) times run on from the frame before it, as in ``_packets``."""
    count = 0
    offset, previous = 0.0, None
    for frame in container.decode(stream):
        if frame.pts is not None:
            at = _seconds(frame.pts, stream.time_base) + offset
            if previous is not None and at < previous - _JUMP_BACK_SECONDS:
                offset += previous + tick - at
                at = previous + tick
            previous = at
            yield at, frame
        elif not timed:
            yield start + count * tick, frame
        count += 1


def _to_bgr(frame) -> np.ndarray:
    image = frame.to_ndarray(format="bgr24")
    quarter_turns = _quarter_turns(frame.rotation)
    # The display matrix rotates counter-clockwise, as np.rot90 does.
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def _quarter_turns(degrees: float | None) -> int:
    """Rotation metadata as whole quarter turns (0-3), the same in ``probe`` and for the frames:
    the nearest one for an odd angle (45, 100), none for a missing or impossible one. FFmpeg's
    angles lie within +-180; an all-zero display matrix gives NaN, which PyAV hands over as
    -2147483648 (it made ``probe`` report 352 degrees while the frames were turned 270)."""
    if not degrees or not math.isfinite(degrees) or abs(degrees) > 360:
        return 0
    return int(round(degrees / 90)) % 4


def _seconds(value: int, time_base: Fraction) -> float:
    return float(value * time_base)
