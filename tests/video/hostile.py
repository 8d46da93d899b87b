"""Hostile files made with PyAV and plain bytes (no ffmpeg command): references to other files,
images and lists under video names, extreme frame sizes, streams that change size, files whose
declared duration is missing or false, damaged copies."""

from __future__ import annotations

import os
import random
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480">'
       '<rect width="640" height="480" fill="grey"/></svg>')


def concat_list(path: Path, target: Path) -> Path:
    """An ffconcat list naming ``target`` relative to itself: FFmpeg's concat demuxer would
    read that file instead (an absolute path is refused by its safe mode, a relative is not)."""
    path.write_text(f"ffconcat version 1.0\nfile '{target.name}'\n")
    return path


def hls_playlist(path: Path, address: str = "http://127.0.0.1:9/clip.ts") -> Path:
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{address}\n"
                    "#EXT-X-ENDLIST\n")
    return path


def sdp(path: Path) -> Path:
    path.write_text("v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\n"
                    "m=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\n")
    return path


def svg(path: Path) -> Path:
    path.write_text(SVG)
    return path


def not_regular_files(folder: Path) -> tuple[Path, Path, Path]:
    """A directory, a FIFO and a dangling symlink, each named like a video."""
    directory = folder / "folder.mp4"
    directory.mkdir()
    fifo = folder / "pipe.mp4"
    os.mkfifo(fifo)
    dangling = folder / "dangling.mp4"
    dangling.symlink_to(folder / "gone.mp4")
    return directory, fifo, dangling


def counted_frame(index: int, width: int, height: int) -> np.ndarray:
    """The left half white; the right half shows ``index`` in binary as 8 black or white bars
    (most significant first), which survive lossy coding."""
    image = np.full((height, width, 3), 255, np.uint8)
    half = width // 2
    bar = (width - half) // 8
    for bit in range(8):
        if not (index >> (7 - bit)) & 1:
            image[:, half + bit * bar: half + (bit + 1) * bar] = 0
    return image


def frame_index(image: np.ndarray) -> int:
    """The index ``counted_frame`` drew, read back from a decoded image."""
    width = image.shape[1]
    half = width // 2
    bar = (width - half) // 8
    value = 0
    for bit in range(8):
        column = image[:, half + bit * bar + bar // 4: half + (bit + 1) * bar - bar // 4]
        value = value * 2 + int(column.mean() > 127)
    return value


def frames_of(encoder, count: int, width: int, height: int, start: int = 0,
              fps: int = 25) -> list:
    packets = []
    for index in range(count):
        frame = av.VideoFrame.from_ndarray(counted_frame(start + index, width, height),
                                           format="bgr24")
        frame.pts, frame.time_base = start + index, Fraction(1, fps)
        packets += encoder.encode(frame)
    return packets + encoder.encode(None)


def raw_h264(path: Path, count: int = 30, width: int = 64, height: int = 48) -> Path:
    """An Annex B H.264 stream without a container: no timestamps, cannot seek."""
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for packet in frames_of(stream.codec_context, count, width, height):
            container.mux(packet)
    return path


def size_change(path: Path, sizes: list[tuple[int, int]], count: int = 20) -> Path:
    """MPEG-TS whose one video stream changes size mid-stream (in-band parameter sets): the
    header shows only the first size."""
    with av.open(str(path), "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = *sizes[0], "yuv420p"
        for part, (width, height) in enumerate(sizes):
            if part == 0:
                encoder = stream.codec_context
            else:
                encoder = av.CodecContext.create("libx264", "w")
                encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
                encoder.time_base, encoder.framerate = Fraction(1, 25), 25
            for packet in frames_of(encoder, count, width, height, part * count):
                packet.stream = stream
                container.mux(packet)
    return path


def matroska(path: Path, count: int = 100, fps: int = 10, live: bool = False,
             width: int = 64, height: int = 48) -> Path:
    """Numbered frames in Matroska; ``live`` leaves out the Duration element (and the cues)."""
    with av.open(str(path), "w", format="matroska",
                 container_options={"live": "1"} if live else {}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for packet in frames_of(stream.codec_context, count, width, height, fps=fps):
            container.mux(packet)
    return path


def false_duration(path: Path, declared_s: float) -> Path:
    """Rewrite a Matroska file's Duration element (ID 0x4489, an 8-byte float in ms) in place."""
    data = bytearray(path.read_bytes())
    at = data.find(b"\x44\x89\x88")
    if at < 0:
        raise ValueError(f"{path}: no 8-byte Duration element")
    data[at + 3: at + 11] = struct.pack(">d", declared_s * 1000.0)
    path.write_bytes(bytes(data))
    return path


def bit_flipped(source: Path, path: Path, seed: int, flips: int = 20) -> Path:
    """A copy of ``source`` with ``flips`` random bytes replaced, past its first kilobyte."""
    rng = random.Random(seed)
    data = bytearray(source.read_bytes())
    for _ in range(flips):
        data[rng.randrange(min(1024, len(data) - 1), len(data))] = rng.randrange(256)
    path.write_bytes(bytes(data))
    return path


def truncated(source: Path, path: Path, fraction: float) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def extreme_frames(path: Path, width: int, height: int, count: int = 5) -> Path:
    """Lossless FFV1 in Matroska, which takes any size down to 1x1."""
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "bgr0"
        for index in range(count):
            image = np.full((height, width, 3), 40 + index, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def spliced(path: Path, parts: list[tuple[Path, float, float]], size=(640, 480), fps: int = 25,
            live: bool = True) -> Path:
    """Matroska of (clip, from s, to s) pieces one after another at ``size``; ``live`` leaves
    out the Duration element, as a file that hides its length would."""
    import cv2

    with av.open(str(path), "w", format="matroska",
                 container_options={"live": "1"} if live else {}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "crf": "18"}
        index = 0
        for clip, begin, end in parts:
            with av.open(str(clip)) as source:
                for frame in source.decode(video=0):
                    if frame.time is None or frame.time < begin:
                        continue
                    if frame.time >= end:
                        break
                    image = cv2.resize(frame.to_ndarray(format="bgr24"), size)
                    encoded = av.VideoFrame.from_ndarray(image, format="bgr24")
                    encoded.pts, encoded.time_base = index, Fraction(1, fps)
                    index += 1
                    for packet in stream.encode(encoded):
                        out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
