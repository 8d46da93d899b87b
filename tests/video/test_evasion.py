"""Content a sampler that trusts the obvious reading would miss: files joined end to end whose
timestamps start again, a second video stream, a resolution change mid-stream. Each is read
from numbered frames, so the tests see which frames the samples came from."""

from __future__ import annotations

import pytest

from moderation.errors import UnsupportedFormat
from moderation.video.reader import MAX_VIDEO_STREAMS, probe, probe_streams, read_streams
from tests.video import evasion
from tests.video.hostile import frame_index

SIZE = (128, 96)


def test_joined_transport_streams_are_timed_on_and_sampled_to_the_end(tmp_path):
    # 8 s, then 2 s whose timestamps start again at the first part's: the second part would
    # hide under the first.
    path = evasion.joined(tmp_path / "joined.ts", [evasion.counted_images(0, 200, SIZE),
                                                   evasion.counted_images(200, 50, SIZE)],
                          size=SIZE)
    info = probe(path)
    assert not info.continuous and not info.seekable
    assert info.duration == pytest.approx(10.0, abs=0.1)
    frames = read_streams([info], count=20)
    indices = [frame_index(frame.image) for frame in frames]
    assert len(frames) == 20 and indices == sorted(indices)
    assert sum(index >= 200 for index in indices) >= 3  # the hidden part is sampled
    times = [frame.time for frame in frames]
    assert times == sorted(times) and times[-1] > 9.0


def test_a_continuous_file_keeps_seeking(tmp_path):
    path = evasion.transport_stream(tmp_path / "plain.ts", evasion.counted_images(0, 100, SIZE),
                                    SIZE)
    assert probe(path).seekable


def test_every_video_stream_is_sampled_one_after_another(tmp_path):
    path = evasion.two_streams(tmp_path / "two.mkv", evasion.counted_images(0, 100, SIZE),
                               evasion.counted_images(100, 100, SIZE), size=SIZE)
    streams = probe_streams(path)
    assert [info.stream for info in streams] == [0, 1]
    assert streams[0].video_streams == 2
    frames = read_streams(streams, count=16)
    indices = [frame_index(frame.image) for frame in frames]
    assert sum(index < 100 for index in indices) == 8
    assert sum(index >= 100 for index in indices) == 8
    times = [frame.time for frame in frames]
    assert times == sorted(times) and times[-1] > 4.0  # the second stream after the first


def test_too_many_video_streams_are_refused(tmp_path):
    import av

    path = tmp_path / "many.mkv"
    with av.open(str(path), "w", format="matroska") as container:
        streams = [evasion._add_video(container, SIZE, 25) for _ in range(MAX_VIDEO_STREAMS + 1)]
        for stream in streams:
            evasion._encode(container, stream, evasion.counted_images(0, 5, SIZE), 25)
    with pytest.raises(UnsupportedFormat, match="video streams"):
        probe_streams(path)


def test_samples_follow_a_resolution_change(tmp_path):
    path = evasion.resized(tmp_path / "resized.ts", [
        (evasion.counted_images(0, 150, SIZE), SIZE),
        (evasion.counted_images(150, 100, (256, 192)), (256, 192))])
    info = probe(path)
    assert (info.width, info.height) == SIZE  # what the header says
    frames = read_streams([info], count=20)
    later = [frame for frame in frames if frame.image.shape[1] == 256]
    assert len(later) >= 6 and all(frame_index(frame.image) >= 150 for frame in later)


def test_a_video_of_one_frame_gives_that_frame(tmp_path):
    """Its samples all lie inside its one tick, after the frame: it was once called corrupt."""
    from tests.video.conftest import encode

    info = probe(encode(tmp_path / "one.mp4", count=1, width=64, height=48))
    frames = read_streams([info], count=32)
    assert len(frames) == 1 and frames[0].image.shape == (48, 64, 3)
