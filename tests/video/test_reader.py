"""The PyAV layer on videos the tests encode themselves and on the shared real clips."""

from __future__ import annotations

import shutil

import av
import numpy as np
import pytest

from moderation.errors import (
    CorruptVideo,
    InputError,
    NoVideoStream,
    VideoTooLarge,
    VideoTooLong,
    VideoTooSmall,
)
from moderation.video.reader import VideoLimits, probe, read_frames, sample_times
from tests.conftest import SHARED
from tests.video.conftest import audio_only, encode

VIDEOS = SHARED / "data" / "videos"


def _index_of(frame) -> int:
    """The frame number drawn into a test clip's right half by ``numbered_frame``."""
    grey = float(np.median(frame.image[:, -frame.image.shape[1] // 4:]))
    return int(round((grey - 20) / 7))


def test_probe_reports_the_stream(clip):
    info = probe(clip)
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.duration == pytest.approx(30 / 25, abs=0.05) and info.fps == pytest.approx(25)
    assert info.frame_count == 30 and info.codec == "h264" and info.pixel_format == "yuv420p"
    assert info.keyframes[0] == 0.0 and len(info.keyframes) >= 3  # gop 10 of 30 frames
    assert max(np.diff(info.keyframes)) <= 0.4 + 1e-6
    assert not info.has_audio


def test_even_samples_fall_in_equal_slices(clip):
    info = probe(clip)
    times = sample_times(info, count=6)
    assert len(times) == 6 and times[0] == pytest.approx(0.1) and times[-1] == pytest.approx(1.1)
    frames = read_frames(info, times)
    assert len(frames) == 6
    for frame, wanted in zip(frames, times, strict=True):
        assert wanted - 1e-6 <= frame.time < wanted + 0.1  # the first frame at or after it
        assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8


def _decode_everything(path):
    """(time, image) of every frame the sampler may return: all but the non-reference ones."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        return [(float(f.pts * stream.time_base), f.to_ndarray(format="bgr24"))
                for f in container.decode(stream)]


def test_sampling_matches_decoding_everything(tmp_path):
    """Seeking only when a keyframe lies ahead gives the very frames of a full decode."""
    info = probe(encode(tmp_path / "long.mp4", count=120, gop=12))
    times = sample_times(info, count=9)
    sampled = read_frames(info, times)
    everything = _decode_everything(info.path)
    for frame, wanted in zip(sampled, times, strict=True):
        expected_time, expected = next(item for item in everything if item[0] >= wanted - 1e-6)
        assert frame.time == pytest.approx(expected_time)
        np.testing.assert_array_equal(frame.image, expected)


def test_rate_and_keyframe_sampling(clip):
    info = probe(clip)
    assert len(sample_times(info, rate=5.0)) == 6
    keyframes = read_frames(info, sample_times(info, keyframes_only=True), keyframes_only=True)
    assert [f.time for f in keyframes] == pytest.approx(list(info.keyframes))
    assert [_index_of(f) for f in keyframes] == [round(t * 25) for t in info.keyframes]


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_is_applied(tmp_path, rotation):
    info = probe(encode(tmp_path / "turned.mp4", count=5, rotation=rotation))
    assert info.rotation == rotation
    assert (info.width, info.height) == ((48, 64) if rotation in (90, 270) else (64, 48))
    image = read_frames(info, [0.0])[0].image
    assert image.shape[:2] == (info.height, info.width)
    # The white half was on the left; turning counter-clockwise moves it down, right or up.
    halves = {90: (image[-10:], image[:10]), 180: (image[:, -10:], image[:, :10]),
              270: (image[:10], image[-10:])}
    white, dark = halves[rotation]
    assert white.mean() > 240 > dark.mean() + 100


def test_variable_frame_rate_uses_timestamps(tmp_path):
    gaps = [40, 40, 200, 40, 400, 40, 40, 100] * 3
    pts = np.cumsum([0] + gaps[:-1]).tolist()
    info = probe(encode(tmp_path / "vfr.mp4", count=len(pts), pts_ms=pts, fps=25))
    assert info.duration == pytest.approx((pts[-1] + 40) / 1000, abs=0.05)
    wanted = [0.05, 0.3, 1.0, 2.5]
    frames = read_frames(info, wanted)
    decodable = np.array([stamp for stamp, _ in _decode_everything(info.path)])
    for frame, time in zip(frames, wanted, strict=True):
        assert frame.time == pytest.approx(decodable[decodable >= time - 1e-6][0], abs=1e-3)
        assert _index_of(frame) == pts.index(round(frame.time * 1000))


@pytest.mark.parametrize("pix_fmt, codec", [("yuv444p", "libx264"), ("yuv422p", "libx264"),
                                            ("gray", "libx264"), ("yuvj420p", "mjpeg")])
def test_odd_pixel_formats(tmp_path, pix_fmt, codec):
    info = probe(encode(tmp_path / f"odd_{pix_fmt}.mkv", count=5, pix_fmt=pix_fmt, codec=codec))
    image = read_frames(info, [0.0])[0].image
    assert image.shape == (48, 64, 3) and image[:, :20].mean() > 230


def test_tiny_frames(tmp_path):
    info = probe(encode(tmp_path / "tiny.mp4", count=4, width=32, height=32))
    assert read_frames(info, sample_times(info, count=2))[0].image.shape == (32, 32, 3)
    # Below the smallest side no face can be judged: unprocessable, not "no face, allow".
    with pytest.raises(VideoTooSmall, match=r"small\.mp4: is 16x32; frames need at least 32"):
        probe(encode(tmp_path / "small.mp4", count=4, width=16, height=32))


def test_audio_only_has_no_video_stream(tmp_path):
    path = audio_only(tmp_path / "song.m4a")
    with pytest.raises(NoVideoStream, match=r"song\.m4a: has no video stream \(audio\)"):
        probe(path)


def test_audio_beside_video_is_fine(tmp_path):
    info = probe(encode(tmp_path / "talk.mp4", count=10, audio=True))
    assert info.has_audio and len(read_frames(info, [0.0, 0.2])) == 2


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    with pytest.raises(CorruptVideo, match=r"noise\.mp4: is not a video"):
        probe(noise)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(CorruptVideo, match="empty.mp4"):
        probe(empty)
    with pytest.raises(InputError, match="absent.mp4: cannot be read"):
        probe(tmp_path / "absent.mp4")


def test_truncated_file_gives_the_frames_before_the_damage(tmp_path):
    # mkv keeps its index at the start, so a cut file still opens, as a partial upload would.
    whole = encode(tmp_path / "whole.mkv", count=100, gop=10, width=128, height=96)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    info = probe(cut)
    frames = read_frames(info, sample_times(probe(whole), count=10))
    assert 2 <= len(frames) < 10
    assert [round(f.time, 2) for f in frames] == sorted(round(f.time, 2) for f in frames)


def test_limits_are_enforced(clip):
    with pytest.raises(VideoTooLong, match=r"clip\.mp4: lasts 1 s; the limit is 0 s"):
        probe(clip, VideoLimits(max_seconds=0.5))
    with pytest.raises(VideoTooLarge, match=r"64x48; the limit is 1000 pixels"):
        probe(clip, VideoLimits(max_pixels=1000))
    with pytest.raises(VideoTooLarge, match="MB; the limit"):
        probe(clip, VideoLimits(max_bytes=100))


@pytest.mark.shared
def test_a_copy_of_a_real_clip_decodes(tmp_path):
    if not VIDEOS.is_dir():
        pytest.skip(f"{VIDEOS} is absent: the shared clips are needed")
    copy = shutil.copy(VIDEOS / "real_hamilton_640x360.mp4", tmp_path / "hamilton.mp4")
    info = probe(copy)
    assert (info.width, info.height, info.has_audio) == (640, 360, True)
    assert info.start == pytest.approx(0.85, abs=0.01)
    assert info.duration == pytest.approx(9.18, abs=0.01)
    frames = read_frames(info, sample_times(info, count=32))
    assert len(frames) == 32 and frames[0].time >= info.start


EXPECTED = {  # file: (width, height, seconds)
    "real_facenet_1080p.mp4": (1920, 1080, 4.2),
    "real_ffpp_c23_004.mp4": (1280, 720, 12.36),
    "fake_ffpp_c23_deepfakes_519_515.mp4": (640, 480, 30.04),
    "fake_dfdc_brtujopkby.mp4": (1080, 1920, 10.01),
}


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_clips(name):
    if not VIDEOS.is_dir():
        pytest.skip(f"{VIDEOS} is absent: the shared clips are needed")
    info = probe(VIDEOS / name)
    width, height, seconds = EXPECTED[name]
    assert (info.width, info.height) == (width, height)
    assert info.duration == pytest.approx(seconds, abs=0.05)
    frames = read_frames(info, sample_times(info, count=32))
    assert len(frames) == 32 and frames[-1].image.shape == (height, width, 3)


def test_decoding_past_the_time_limit_is_a_typed_error(tmp_path):
    from moderation.errors import DecodeTimeout

    info = probe(encode(tmp_path / "slow.mp4", count=60))
    with pytest.raises(DecodeTimeout, match=r"slow\.mp4: decoding took over 0 s"):
        read_frames(info, sample_times(info, count=8), VideoLimits(decode_timeout=1e-9))
