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

    with av.open(str(path), "w", format="matroska",
                 container_options={"live": "1"} if live else {}) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast", "crf": "18"}
        index = 0
        for piece in parts:
            for image in clip_images(piece, size):
                encoded = av.VideoFrame.from_ndarray(image, format="bgr24")
                encoded.pts, encoded.time_base = index, Fraction(1, fps)
                index += 1
                for packet in stream.encode(encoded):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def clip_images(piece: tuple[Path, float, float], size: tuple[int, int]):
    """The frames of a piece (clip, from s, to s) of a clip, BGR at ``size`` (width, height)."""
    import cv2

    clip, begin, end = piece
    with av.open(str(clip)) as source:
        for frame in source.decode(video=0):
            if frame.time is None or frame.time < begin:
                continue
            if frame.time >= end:
                break
            yield cv2.resize(frame.to_ndarray(format="bgr24"), size)


# --- Hand-written H.264 (Annex B): any declared size, frames that cost nothing to store. ---
# Baseline profile, CAVLC, one reference frame; the keyframe is all DC-predicted 16x16 blocks
# without residual (8 bits a macroblock) and every later frame one run of skipped macroblocks
# (a few bytes), so a kilobyte can declare 16384x16384 or decode into thousands of 4K frames.


def _ue(value: int) -> str:
    code = bin(value + 1)[2:]
    return "0" * (len(code) - 1) + code


def _se(value: int) -> str:
    return _ue(2 * value - 1 if value > 0 else -2 * value)


def _nal(ref_idc: int, kind: int, bits: str) -> bytes:
    bits += "1"  # rbsp_stop_one_bit, then zeros to a byte
    bits += "0" * (-len(bits) % 8)
    payload = int(bits, 2).to_bytes(len(bits) // 8, "big")
    out = bytearray()
    zeros = 0
    for byte in payload:  # emulation prevention: no 00 00 0x inside a NAL unit
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return b"\x00\x00\x00\x01" + bytes([(ref_idc << 5) | kind]) + bytes(out)


def _sps(width: int, height: int) -> bytes:
    columns, rows = -(-width // 16), -(-height // 16)
    crop_x, crop_y = columns * 16 - width, rows * 16 - height
    bits = (f"{66:08b}{0xC0:08b}{52:08b}" + _ue(0) + _ue(12) + _ue(2) + _ue(1) + "0"
            + _ue(columns - 1) + _ue(rows - 1) + "11")
    if crop_x or crop_y:  # cropping counts in chroma samples (2 px) for 4:2:0
        bits += "1" + _ue(0) + _ue(crop_x // 2) + _ue(0) + _ue(crop_y // 2)
    else:
        bits += "0"
    return _nal(3, 7, bits + "0")  # no VUI


def _pps() -> bytes:
    bits = (_ue(0) + _ue(0) + "00" + _ue(0) + _ue(0) + _ue(0) + "000" + _se(0) + _se(0)
            + _se(0) + "100")  # deblocking control present, then off in each slice
    return _nal(3, 8, bits)


def _keyframe(macroblocks: int) -> bytes:
    header = _ue(0) + _ue(7) + _ue(0) + "0" * 16 + _ue(0) + "00" + _se(0) + _ue(1)
    # I_16x16 DC prediction, chroma DC, qp delta 0, an empty luma DC block: "00100111".
    return _nal(3, 5, header + "00100111" * macroblocks)


def _skipped(macroblocks: int, number: int) -> bytes:
    header = (_ue(0) + _ue(5) + _ue(0) + f"{number % 65536:016b}" + "000" + _se(0) + _ue(1))
    return _nal(2, 1, header + _ue(macroblocks))


def skip_frames_h264(width: int, height: int, count: int, keyframe_blocks: int | None = None,
                     keyframe_every: int = 0) -> list[bytes]:
    """``count`` access units of a ``width`` x ``height`` grey stream: one keyframe (of
    ``keyframe_blocks`` macroblocks when given: fewer than the frame holds is a damaged one),
    then skipped frames; ``keyframe_every`` repeats the keyframe."""
    macroblocks = -(-width // 16) * -(-height // 16)
    key = _sps(width, height) + _pps() + _keyframe(
        macroblocks if keyframe_blocks is None else keyframe_blocks)
    units = []
    for index in range(count):
        if index == 0 or (keyframe_every and index % keyframe_every == 0):
            units.append(key)
        else:
            units.append(_skipped(macroblocks, index % keyframe_every if keyframe_every
                                  else index))
    return units


def write_h264(path: Path, units: list[bytes], format: str | None = None,
               pts: list[int] | None = None, time_base: Fraction = Fraction(1, 25),
               size: tuple[int, int] | None = None) -> Path:
    """``units`` as a raw Annex B file, or remuxed into ``format`` (matroska, mp4, avi, ...)
    with ``pts`` in ``time_base`` (frame numbers by default). ``size`` is what the container
    header declares (by default what FFmpeg read from the parameter sets, 0x0 for a size it
    refuses)."""
    raw = path.with_name(path.name + ".h264") if format else path
    raw.write_bytes(b"".join(units))
    if not format:
        return path
    # The decoder opening runs never sees a frame over a megapixel (a declared 16000x16000
    # would cost it a gigabyte): ``size`` gives the container header what it cannot read.
    with av.open(str(raw), options={"max_pixels": "1000000"}) as source, \
            av.open(str(path), "w", format=format) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        stream.time_base = time_base
        if size:
            stream.codec_context.width, stream.codec_context.height = size
        for index, packet in enumerate(source.demux(source.streams.video[0])):
            if packet.size == 0:
                continue
            packet.stream = stream
            packet.pts = packet.dts = pts[index] if pts else index
            packet.time_base = time_base
            packet.duration = 1
            out.mux(packet)
    raw.unlink()
    return path


# --- Files that are not videos, or not what their headers say. ---


def _elf() -> bytes:
    """A 64-bit x86-64 executable's header (no code: nothing here ever runs it)."""
    header = b"\x7fELF\x02\x01\x01" + b"\x00" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    return header + struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, 120, 120, 0x1000)


def not_video_bytes(kind: str, seed: int = 0) -> bytes:
    """A well-formed file of ``kind`` (png, jpeg, gif, pdf, zip, gzip, tar, wav, text, html,
    json, elf, sqlite), seeded."""
    import gzip
    import io
    import tarfile
    import wave
    import zipfile

    import cv2

    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (48 + seed % 50, 64 + seed % 70, 3), np.uint8)
    if kind in ("png", "jpeg"):
        return cv2.imencode(".png" if kind == "png" else ".jpg", image)[1].tobytes()
    if kind == "gif":
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="GIF")
        return buffer.getvalue()
    if kind == "pdf":
        return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages"
                b"/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
    if kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(zipfile.ZipInfo("clip.mp4", (2020, 1, 1, 0, 0, 0)), image.tobytes())
        return buffer.getvalue()
    if kind == "gzip":
        return gzip.compress(image.tobytes(), mtime=0)
    if kind == "tar":
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo("clip.mp4")
            info.size = image.size
            archive.addfile(info, io.BytesIO(image.tobytes()))
        return buffer.getvalue()
    if kind == "wav":
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as sound:
            sound.setnchannels(1)
            sound.setsampwidth(2)
            sound.setframerate(8000)
            sound.writeframes(rng.integers(-3000, 3000, 8000, np.int16).tobytes())
        return buffer.getvalue()
    if kind == "text":
        return " ".join(str(v) for v in rng.integers(0, 1000, 200)).encode()
    if kind == "html":
        return b"<!DOCTYPE html><html><body><video src='clip.mp4'></video></body></html>\n"
    if kind == "json":
        return b'{"video": "clip.mp4", "frames": [1, 2, 3]}\n'
    if kind == "elf":
        return _elf()
    if kind == "sqlite":
        return b"SQLite format 3\x00" + bytes(84)
    raise ValueError(f"unknown kind {kind!r}")


NOT_VIDEO_KINDS = ("png", "jpeg", "gif", "pdf", "zip", "gzip", "tar", "wav", "text", "html",
                   "json", "elf", "sqlite")


def patch_dimensions(path: Path, width: int, height: int) -> Path:
    """Make a Matroska or AVI header declare ``width`` x ``height`` (the coded stream keeps its
    own size): Matroska's PixelWidth/PixelHeight elements, AVI's main and stream headers."""
    data = bytearray(path.read_bytes())
    if data[:4] == b"RIFF":
        avih = data.find(b"avih") + 8
        struct.pack_into("<II", data, avih + 32, width, height)
        strf = data.find(b"strf") + 8
        struct.pack_into("<ii", data, strf + 4, width, height)
    elif data[:4] == b"\x1aE\xdf\xa3":
        for element, value in ((b"\xb0", width), (b"\xba", height)):
            at = data.find(element + b"\x82")  # a 2-byte unsigned integer
            if at < 0:
                raise ValueError(f"{path}: no 2-byte {element.hex()} element")
            struct.pack_into(">H", data, at + 2, value)
    else:
        raise ValueError(f"{path}: neither Matroska nor AVI")
    path.write_bytes(bytes(data))
    return path


def _ebml(element_id: int, payload: bytes | int | str) -> bytes:
    if isinstance(payload, int):
        payload = payload.to_bytes(max(1, -(-payload.bit_length() // 8)), "big")
    elif isinstance(payload, str):
        payload = payload.encode()
    size = len(payload) | (1 << 56)  # an 8-byte size: 0x01 then seven bytes
    return element_id.to_bytes(-(-element_id.bit_length() // 8), "big") + \
        size.to_bytes(8, "big") + payload


def many_streams(path: Path, count: int, kind: str = "audio") -> Path:
    """Matroska (written element by element: PyAV's muxer crashes past FFmpeg's 1000 streams)
    with one small H.264 video track and ``count`` more tracks (``audio``: PCM, ``video``:
    more copies of the video), each with one block."""
    video = b"".join(skip_frames_h264(64, 48, 1))
    header = _ebml(0x1A45DFA3, _ebml(0x4286, 1) + _ebml(0x42F7, 1) + _ebml(0x42F2, 4)
                   + _ebml(0x42F3, 8) + _ebml(0x4282, "matroska") + _ebml(0x4287, 4)
                   + _ebml(0x4285, 2))
    info = _ebml(0x1549A966, _ebml(0x2AD7B1, 1_000_000) + _ebml(0x4D80, "hostile")
                 + _ebml(0x5741, "hostile"))
    tracks, blocks = [], []
    for number in range(1, count + 2):
        entry = _ebml(0xD7, number) + _ebml(0x73C5, number)
        if number == 1 or kind == "video":
            entry += _ebml(0x83, 1) + _ebml(0x86, "V_MPEG4/ISO/AVC") + _ebml(
                0xE0, _ebml(0xB0, 64) + _ebml(0xBA, 48))
            data = video
        else:
            entry += _ebml(0x83, 2) + _ebml(0x86, "A_PCM/INT/LIT") + _ebml(
                0xE1, _ebml(0xB5, struct.pack(">d", 8000.0)) + _ebml(0x9F, 1)
                + _ebml(0x6264, 16))
            data = bytes(160)
        tracks.append(_ebml(0xAE, entry))
        # SimpleBlock: the track number as a 2-byte vint, timecode 0, keyframe.
        blocks.append(_ebml(0xA3, (0x4000 | number).to_bytes(2, "big") + b"\x00\x00\x80"
                            + data))
    cluster = _ebml(0x1F43B675, _ebml(0xE7, 0) + b"".join(blocks))
    segment = _ebml(0x18538067, info + _ebml(0x1654AE6B, b"".join(tracks)) + cluster)
    path.write_bytes(header + segment)
    return path


def no_video(path: Path, format: str, kind: str = "audio") -> Path:
    """A container with no video stream: silence (``audio``) or one subtitle (``subtitle``)."""
    with av.open(str(path), "w", format=format) as out:
        if kind == "subtitle":
            out.add_stream("ass")  # a stream without packets
            return path
        stream = out.add_stream("aac" if format in ("mp4", "mov") else "pcm_s16le", rate=16000,
                                layout="mono")
        samples = np.zeros((1, 16000), np.float32 if stream.name == "aac" else np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp" if stream.name == "aac"
                                           else "s16", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return path


def image_bomb(path: Path, codec: str, width: int, height: int, count: int) -> Path:
    """AVI of ``count`` flat ``codec`` (png, mjpeg) frames of ``width`` x ``height``: a flat
    frame compresses to a few KB and decodes to width x height x 3 bytes."""
    with av.open(str(path), "w", format="avi") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height = width, height
        stream.pix_fmt = "rgb24" if codec == "png" else "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8),
                                           format="rgb24")
        packets = stream.encode(frame)  # one encoded frame, muxed ``count`` times
        for index in range(count):
            for packet in packets:
                packet.pts = packet.dts = index
                out.mux(packet)
    return path


def rotated(path: Path, matrix: tuple[float, ...] | None = None,
            degrees: float | None = None) -> Path:
    """An mp4 whose track header holds a display ``matrix`` (a, b, c, d as 16.16 fixed point;
    all zeros reads as a NaN angle) or the rotation by ``degrees``."""
    units = skip_frames_h264(96, 64, 20)
    write_h264(path, units, "mp4")
    if degrees is not None:
        import math

        radians = math.radians(degrees)
        matrix = (math.cos(radians), -math.sin(radians), math.sin(radians), math.cos(radians))
    data = bytearray(path.read_bytes())
    tkhd = data.find(b"tkhd") + 4
    if data[tkhd] != 0:
        raise ValueError(f"{path}: a version-1 track header")
    a, b, c, d = (int(round(v * 65536)) for v in matrix)
    struct.pack_into(">iii iii", data, tkhd + 40, a, b, 0, c, d, 0)
    path.write_bytes(bytes(data))
    return path
