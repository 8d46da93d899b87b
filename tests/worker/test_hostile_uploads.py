"""Hostile uploads through a real worker on RabbitMQ and PostgreSQL: each ends with one
unprocessable verdict and a named reason on its first try, none stays pending, and nothing
outside the source roots is opened."""

from __future__ import annotations

import os

import pytest

from tests.video import hostile
from tests.worker.conftest import counts, send_scan, upload, wait_for, wait_for_verdict

DONE_ONCE = {"verdicts": 1, "current": 1, "scans": 1, "attempts": [1], "status": "done"}


def _verdict(sessions, queue, source):
    upload_id = upload(sessions, source)  # straight into the table, as if the API had let it in
    send_scan(upload_id, queue)
    return upload_id, wait_for_verdict(sessions, upload_id, timeout=90)


@pytest.mark.parametrize("make, code", [
    (lambda tmp, videos: "/etc/passwd", "source_refused"),
    (lambda tmp, videos: "file:///etc/passwd", "source_refused"),
    (lambda tmp, videos: _link(tmp / "shadow.mp4", "/etc/shadow"), "source_refused"),
    (lambda tmp, videos: _link(tmp / "gone.mp4", str(tmp / "nothing.mp4")), "dangling_symlink"),
    (lambda tmp, videos: _fifo(tmp / "pipe.mp4"), "not_a_file"),
    (lambda tmp, videos: hostile.concat_list(tmp / "list.mp4", hostile.matroska(
        tmp / "other.mkv")), "unsupported_format"),
    (lambda tmp, videos: hostile.svg(tmp / "drawing.mp4"), "unsupported_format"),
    (lambda tmp, videos: hostile.extreme_frames(tmp / "thin.mkv", 17, 4001), "too_small"),
    (lambda tmp, videos: hostile.extreme_frames(tmp / "flat.mkv", 4096, 2), "too_small"),
], ids=["outside", "url", "symlink-out", "dangling", "fifo", "ffconcat", "svg", "17x4001",
        "4096x2"])
def test_hostile_sources_end_unprocessable_at_once(sessions, videos, queue, shared_worker,
                                                   tmp_path, make, code):
    source = make(tmp_path, videos)
    upload_id, verdict = _verdict(sessions, queue, source)
    assert verdict.decision == "unprocessable"
    assert verdict.reasons[0]["code"] == code, verdict.reasons
    assert "Traceback" not in verdict.reasons[0]["message"]
    assert counts(sessions, upload_id) == DONE_ONCE
    assert f"upload={upload_id}: verdict unprocessable" in shared_worker.log()


def _link(path, target):
    path.symlink_to(target)
    return path


def _fifo(path):
    os.mkfifo(path)
    return path


def test_a_ffconcat_list_next_to_a_real_clip_does_not_scan_the_clip(sessions, videos, queue,
                                                                     shared_worker, tmp_path):
    clip = tmp_path / "real.mp4"
    clip.symlink_to(videos / "real_ffpp_c23_634.mp4")
    upload_id, verdict = _verdict(sessions, queue, hostile.concat_list(tmp_path / "x.mp4",
                                                                       clip))
    # It used to answer allow: the verdict on the other file.
    assert (verdict.decision, verdict.reasons[0]["code"]) == ("unprocessable",
                                                              "unsupported_format")


@pytest.mark.slow
def test_a_file_that_arrives_late_is_retried_then_scanned(sessions, start_worker, tmp_path):
    # A worker of its own: the shared worker's log must show no retries for the other tests.
    worker = start_worker()
    late = tmp_path / "late.mp4"
    upload_id = upload(sessions, late)
    send_scan(upload_id, worker.queue)
    wait_for(lambda: f"upload={upload_id}: transient SourceMissing" in worker.log(), 60,
             what="the retry of the missing file")
    assert counts(sessions, upload_id)["verdicts"] == 0  # still pending, not given up
    # Now it arrives (thin frames: a quick, certain verdict).
    hostile.extreme_frames(late.with_suffix(".tmp"), 8, 8)
    late.with_suffix(".tmp").rename(late)
    verdict = wait_for_verdict(sessions, upload_id, timeout=120)
    assert (verdict.decision, verdict.reasons[0]["code"]) == ("unprocessable", "too_small")
    assert counts(sessions, upload_id)["attempts"][0] >= 2
