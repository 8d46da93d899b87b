"""The reader on hostile files: each ends in a typed error that names the file, or in frames
that cover the whole content. Nothing else may escape."""

from __future__ import annotations

import os
import time
from fractions import Fraction

import pytest

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
from moderation.video.reader import VideoLimits, probe, read_frames, sample_times
from tests.conftest import SHARED
from tests.video import hostile
from tests.video.conftest import encode

VIDEOS = SHARED / "data" / "videos"


def _index(frame) -> int:
    return hostile.frame_index(frame.image)


@pytest.mark.parametrize("make", [
    lambda tmp: hostile.concat_list(tmp / "list.mp4", encode(tmp / "other.mp4")),
    lambda tmp: hostile.hls_playlist(tmp / "playlist.m3u8"),
    lambda tmp: hostile.sdp(tmp / "session.mp4"),
    lambda tmp: hostile.svg(tmp / "drawing.mp4"),
], ids=["ffconcat", "hls", "sdp", "svg"])
def test_demuxers_outside_the_allow_list_are_refused(tmp_path, make):
    path = make(tmp_path)
    with pytest.raises(UnsupportedFormat, match=rf"{path.name}: is not a video in an allowed "
                                                r"format \(mp4/mov"):
        probe(path)


def test_a_playlist_under_a_video_name_is_no_video(tmp_path):
    # FFmpeg only tries the HLS demuxer on a .m3u8 name; under .mp4 it is plain bad data.
    path = hostile.hls_playlist(tmp_path / "playlist.mp4")
    with pytest.raises(CorruptVideo, match=r"playlist\.mp4: is not a video"):
        probe(path)


def test_an_ffconcat_list_never_reads_the_file_it_names(tmp_path):
    other = encode(tmp_path / "other.mp4", count=30)
    listing = hostile.concat_list(tmp_path / "list.mp4", other)
    before = os.stat(other).st_atime_ns
    with pytest.raises(UnsupportedFormat):
        read_frames(probe(listing), [0.0])
    # Some filesystems do not update access times; where they do, it must not have changed.
    assert os.stat(other).st_atime_ns == before


def test_a_valid_raw_h264_stream_is_read_forward_and_timed_by_count(tmp_path):
    info = probe(hostile.raw_h264(tmp_path / "raw.h264", count=50))
    assert not info.timed and info.keyframes == ()
    assert info.duration == pytest.approx(2.0, abs=0.05) and (info.width, info.height) == (64, 48)
    frames = read_frames(info, sample_times(info, count=5))
    assert [_index(f) for f in frames] == [5, 15, 25, 35, 45]
    assert [f.time for f in frames] == pytest.approx([0.2, 0.6, 1.0, 1.4, 1.8])


def test_the_pixel_limit_applies_to_every_frame(tmp_path):
    path = hostile.size_change(tmp_path / "grows.ts", [(64, 48), (128, 96)])
    info = probe(path, VideoLimits(max_pixels=64 * 48))  # the header shows 64x48
    assert (info.width, info.height) == (64, 48)
    # Sampling only the first half passes; any sample in the 128x96 half is refused.
    assert len(read_frames(info, [0.1, 0.3], VideoLimits(max_pixels=64 * 48))) == 2
    with pytest.raises(VideoTooLarge, match=r"grows\.ts: has a frame at 0\.\d+ s of 128x96; "
                                            r"the limit is 3072 pixels"):
        read_frames(info, sample_times(info, count=8), VideoLimits(max_pixels=64 * 48))
    # Within the limit, both sizes come back.
    shapes = {f.image.shape[:2] for f in read_frames(info, sample_times(info, count=8))}
    assert shapes == {(48, 64), (96, 128)}


@pytest.mark.parametrize("width, height", [(1, 1), (17, 4001), (2, 4096), (4096, 2), (31, 64)])
def test_frames_too_small_to_judge_are_refused(tmp_path, width, height):
    path = hostile.extreme_frames(tmp_path / f"f{width}x{height}.mkv", width, height)
    with pytest.raises(VideoTooSmall, match=rf"is {width}x{height}; frames need at least 32 px"):
        probe(path)


def test_without_a_declared_duration_the_packets_give_it(tmp_path):
    info = probe(hostile.matroska(tmp_path / "live.mkv", count=100, fps=10, live=True))
    assert info.duration == pytest.approx(10.0, abs=0.15)
    frames = read_frames(info, sample_times(info, count=10))
    # The samples cover the whole file, not its first frames (the declared 0 s sampled t=0).
    # (A sample may land a frame or two late: non-reference frames are skipped.)
    for frame, expected in zip(frames, range(5, 100, 10), strict=True):
        assert expected <= _index(frame) <= expected + 2


def test_a_false_short_duration_is_corrected(tmp_path):
    path = hostile.false_duration(hostile.matroska(tmp_path / "lies.mkv", count=100), 1.0)
    info = probe(path)
    assert info.duration == pytest.approx(10.0, abs=0.15)
    assert _index(read_frames(info, sample_times(info, count=4))[-1]) >= 80


def test_a_long_video_declared_short_is_too_long(tmp_path):
    path = hostile.false_duration(hostile.matroska(tmp_path / "long.mkv", count=120, fps=2),
                                  10.0)
    with pytest.raises(VideoTooLong, match=r"long\.mkv: runs past 30 s, the limit"):
        probe(path, VideoLimits(max_seconds=30))


def test_the_packet_pass_is_bounded_in_time(tmp_path):
    path = hostile.matroska(tmp_path / "slow.mkv", count=60)
    with pytest.raises(DecodeTimeout, match=r"slow\.mkv: reading its packets took over"):
        probe(path, VideoLimits(probe_timeout=1e-9))


def test_not_regular_files_are_named_for_what_they_are(tmp_path):
    folder, fifo, dangling = hostile.not_regular_files(tmp_path)
    with pytest.raises(NotAFile, match=r"folder\.mp4: is a directory, not a regular file"):
        probe(folder)
    with pytest.raises(NotAFile, match=r"pipe\.mp4: is a named pipe \(FIFO\)"):
        probe(fifo)  # returns at once: a FIFO is never opened
    with pytest.raises(NotAFile, match=r"/dev/zero: is a character device"):
        probe("/dev/zero")
    with pytest.raises(DanglingSymlink, match=r"dangling\.mp4: is a symbolic link to a file "
                                              "that does not exist"):
        probe(dangling)
    with pytest.raises(InputError, match=r"absent\.mp4: cannot be read \(no such file\)"):
        probe(tmp_path / "absent.mp4")


@pytest.mark.shared
@pytest.mark.parametrize("seed", range(12))
def test_damaged_copies_of_a_real_clip_fail_typed_or_decode(tmp_path, seed):
    clip = VIDEOS / "real_hamilton_640x360.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} is absent: the shared clips are needed")
    if seed % 2:
        path = hostile.bit_flipped(clip, tmp_path / "flipped.mp4", seed, flips=50)
    else:
        path = hostile.truncated(clip, tmp_path / "cut.mp4", 0.1 + 0.07 * seed)
    try:
        info = probe(path)
        frames = read_frames(info, sample_times(info, count=8))
    except InputError as exc:
        assert path.name in str(exc)
    else:
        assert frames and all(f.image.ndim == 3 for f in frames)


def test_damaged_mpegts_fails_typed_or_decodes(tmp_path):
    whole = hostile.size_change(tmp_path / "whole.ts", [(64, 48), (96, 64)])
    outcomes = set()
    for seed in range(40):
        path = hostile.bit_flipped(whole, tmp_path / f"bad{seed}.ts", seed, flips=30)
        try:
            info = probe(path)
            read_frames(info, sample_times(info, count=6))
            outcomes.add("frames")
        except (CorruptVideo, InputError) as exc:
            assert path.name in str(exc)
            outcomes.add(type(exc).__name__)
    assert outcomes  # every one of the 40 ended one of the two ways


@pytest.mark.parametrize("suffix", ["mp4", "mkv", "h264"])
def test_a_zero_length_file_is_corrupt(tmp_path, suffix):
    path = tmp_path / f"empty.{suffix}"
    path.write_bytes(b"")
    # By its name .h264 is tried as a raw stream, which opens and holds nothing.
    with pytest.raises(CorruptVideo, match=rf"empty\.{suffix}: (is not a video|contains no)"):
        probe(path)


@pytest.mark.parametrize("kind", hostile.NOT_VIDEO_KINDS)
def test_other_files_under_a_video_name_are_refused(tmp_path, kind):
    path = tmp_path / f"{kind}.mp4"
    path.write_bytes(hostile.not_video_bytes(kind))
    # Images and WAV have demuxers of their own (outside the allow-list); the rest none at all.
    with pytest.raises((UnsupportedFormat, CorruptVideo), match=rf"{kind}\.mp4: is not a video"):
        probe(path)


@pytest.mark.parametrize("width, height", [(16384, 16384), (65535, 65535), (16000, 16000)])
@pytest.mark.parametrize("format", [None, "matroska", "mp4"])
def test_huge_declared_dimensions_are_refused_without_decoding(tmp_path, width, height, format):
    units = hostile.skip_frames_h264(width, height, 5, keyframe_blocks=50)
    path = hostile.write_h264(tmp_path / f"huge.{format or 'h264'}", units, format,
                              size=(width, height))
    started = time.monotonic()
    # 16384 and more FFmpeg refuses itself; 16000x16000 it would decode (it once took 5 s and
    # 1.1 GB before the size check): now the decoder opening runs stops at the pixel limit.
    with pytest.raises((VideoTooLarge, CorruptVideo), match=r"huge\."):
        probe(path)
    assert time.monotonic() - started < 1.0


def test_a_header_that_lies_about_the_size_is_read_at_the_true_size(tmp_path):
    for format in ("matroska", "avi"):
        path = hostile.write_h264(tmp_path / f"lies.{format}",
                                  hostile.skip_frames_h264(640, 480, 10), format)
        info = probe(hostile.patch_dimensions(path, 65535, 65535))
        assert (info.width, info.height) == (640, 480)
        frames = read_frames(info, sample_times(info, count=4))
        assert {f.image.shape for f in frames} == {(480, 640, 3)}


@pytest.mark.parametrize("pts, time_base", [
    (list(range(10800)), Fraction(1, 1)),  # 3 h at 1 fps
    ([0, 3600, 7200, 10800], Fraction(1, 1)),  # four frames over 3 h
], ids=["3h-1fps", "spread"])
def test_hours_long_tiny_videos_are_too_long(tmp_path, pts, time_base):
    units = hostile.skip_frames_h264(32, 32, len(pts))
    for format in ("matroska", "mp4"):
        path = hostile.write_h264(tmp_path / f"long.{format}", units, format, pts=pts,
                                  time_base=time_base)
        with pytest.raises(VideoTooLong, match=r"long\.\w+: (lasts|runs past)"):
            probe(path)


@pytest.mark.parametrize("count, kind", [(63, "audio"), (2000, "audio"), (1500, "video")])
def test_thousands_of_streams_are_refused(tmp_path, count, kind):
    path = hostile.many_streams(tmp_path / "streams.mkv", count, kind)
    started = time.monotonic()
    with pytest.raises(TooManyStreams, match=r"streams\.mkv: has 64 streams or more"):
        probe(path)
    # 1500 video streams used to cost 6 s and 900 MB: a decoder each.
    assert time.monotonic() - started < 2.0


def test_a_few_streams_are_fine(tmp_path):
    info = probe(hostile.many_streams(tmp_path / "streams.mkv", 10, "audio"))
    assert info.has_audio and (info.width, info.height) == (64, 48)


@pytest.mark.parametrize("format", ["mp4", "matroska", "mpegts", "flv"])
def test_audio_only_has_no_video_stream(tmp_path, format):
    path = hostile.no_video(tmp_path / "sound.mp4", format)
    # (PCM in MPEG-TS is a data stream to FFmpeg.)
    with pytest.raises(NoVideoStream, match=r"sound\.mp4: has no video stream \((audio|data)"):
        probe(path)


def test_a_decompression_bomb_is_bounded_by_the_decode_timeout(tmp_path):
    # 2000 4K frames in 60 KB: each decodes to 12 MB.
    units = hostile.skip_frames_h264(3840, 2160, 2000)
    path = hostile.write_h264(tmp_path / "bomb.mkv", units, "matroska")
    assert path.stat().st_size < 100_000
    info = probe(path)
    assert (info.width, info.height) == (3840, 2160)
    with pytest.raises(DecodeTimeout, match=r"bomb\.mkv: decoding took over"):
        read_frames(info, sample_times(info, count=8), VideoLimits(decode_timeout=1.0))


def test_a_frame_over_the_pixel_limit_in_an_image_codec_is_refused(tmp_path):
    path = hostile.image_bomb(tmp_path / "bomb.avi", "png", 4096, 2200, 3)
    with pytest.raises(VideoTooLarge, match=r"bomb\.avi: is 4096x2200"):
        probe(path)


@pytest.mark.parametrize("degrees, turns", [(45, 0), (1000, 3), (-90, 3), (100, 1), (180, 2),
                                            (None, 0)])
def test_odd_rotations_snap_to_quarter_turns(tmp_path, degrees, turns):
    # None: an all-zero display matrix, whose angle is NaN (probe said 352, the frames 270).
    path = hostile.rotated(tmp_path / "turned.mp4", degrees=degrees,
                           matrix=(0, 0, 0, 0) if degrees is None else None)
    info = probe(path)
    assert info.rotation == 90 * turns
    frames = read_frames(info, sample_times(info, count=3))
    # What probe says is what the frames are: 96x64, displayed upright or on its side.
    assert {f.image.shape[:2] for f in frames} == {(info.height, info.width)}
    assert (info.width, info.height) == ((64, 96) if turns % 2 else (96, 64))
