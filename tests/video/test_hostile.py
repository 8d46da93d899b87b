"""The reader on hostile files: each ends in a typed error that names the file, or in frames
that cover the whole content. Nothing else may escape."""

from __future__ import annotations

import os

import pytest

from moderation.errors import (
    CorruptVideo,
    DanglingSymlink,
    DecodeTimeout,
    InputError,
    NotAFile,
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
