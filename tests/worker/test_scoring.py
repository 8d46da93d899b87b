"""Scoring on its own queue (worker.scoring): the crops' codec against forged messages, and real
scoring workers on RabbitMQ scoring for a scan worker that loads no model of its own."""

from __future__ import annotations

import base64
import io
import zlib
from dataclasses import replace

import cv2
import numpy as np
import pytest

from moderation.config import Settings
from moderation.detector.inference import SwapDetector
from tests.conftest import SHARED
from tests.worker.conftest import (
    BROKER,
    counts,
    new_queue,
    send_scan,
    upload,
    wait_for,
    wait_for_verdict,
)
from worker.app import create_app
from worker.local import delete_queue
from worker.scoring import (
    BadBatch,
    DetectorMismatch,
    QueuedScoring,
    ScoringUnavailable,
    pack_crops,
    score_batch,
    unpack_crops,
)

CROPS = SHARED / "data" / "crops" / "dfdc"
CLIP = "real_ffpp_c23_634.mp4"  # 13 s, 1280x720, real: the detector allows it


@pytest.fixture(scope="module")
def detector() -> SwapDetector:
    return SwapDetector.load()


@pytest.fixture(scope="module")
def face_crops() -> list[np.ndarray]:
    paths = sorted(CROPS.rglob("*.png"))
    if not paths:
        pytest.skip(f"{CROPS} is absent: real face crops are needed")
    # Of several sizes, as the scanner cuts them for other geometries.
    return [cv2.resize(cv2.imread(str(path)), (150 + 10 * (i % 5),) * 2)
            for i, path in enumerate(paths)]


@pytest.mark.shared
def test_packed_crops_score_exactly_as_in_process(detector, face_crops):
    blob = pack_crops(face_crops, detector.config)
    unpacked = unpack_crops(blob)
    size = detector.config.input_size
    assert all(crop.shape == (size, size, 3) for crop in unpacked)
    assert score_batch(detector, blob, detector.version) == \
        [float(score) for score in detector.score_crops(face_crops)]


def _blob(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return base64.b64encode(zlib.compress(buffer.getvalue())).decode()


def _bomb() -> str:
    """900 MB of zeros in under 1 MB: more than any batch may inflate to."""
    packer = zlib.compressobj(9)
    chunk = bytes(1024 * 1024)
    packed = b"".join(packer.compress(chunk) for _ in range(900)) + packer.flush()
    return base64.b64encode(packed).decode()


@pytest.mark.parametrize("forge", [
    lambda: "not base64 at all!",
    lambda: base64.b64encode(b"not zlib").decode(),
    lambda: _blob(np.zeros((2, 160, 160, 3), np.float32)),  # not pixels
    lambda: _blob(np.zeros((2, 160, 120, 3), np.uint8)),  # not square
    lambda: _blob(np.zeros((2, 640, 640, 3), np.uint8)),  # larger than any model's input
    lambda: _blob(np.array([{"a": 1}], dtype=object)),  # a pickle
    _bomb,
], ids=["base64", "zlib", "float", "not-square", "too-large", "pickle", "bomb"])
def test_a_forged_batch_is_refused_by_name(forge):
    with pytest.raises(BadBatch, match="scoring batch"):
        unpack_crops(forge())


def test_another_checkpoints_crops_are_refused(detector):
    blob = pack_crops([np.zeros((160, 160, 3), np.uint8)], detector.config)
    with pytest.raises(DetectorMismatch, match="mobilenet_v2-0000"):
        score_batch(detector, blob, "mobilenet_v2-0000")


def _client(queue: str, timeout: float = 60.0) -> QueuedScoring:
    settings = Settings(broker_url=BROKER, scoring_queue=queue, scoring_batch=8,
                        scoring_timeout_s=timeout)
    return QueuedScoring(create_app(settings), settings)


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.shared
def test_a_scoring_worker_scores_batches_sent_over_the_broker(broker, start_worker, detector,
                                                              face_crops):
    queue = new_queue()
    worker = start_worker(consumes=[queue], scoring_queue=queue)
    try:
        client = _client(queue)
        # 22 crops in batches of 8: three tasks, their scores put back in order.
        scores = client(face_crops, detector.config)
        np.testing.assert_array_equal(scores, detector.score_crops(face_crops))
        assert worker.log().count("worker.tasks.score_crops") >= 3
        # Crops judged by another checkpoint are refused, and the scan is told why.
        other = replace(detector.config, weights="0" * 64)
        with pytest.raises(DetectorMismatch, match=detector.version):
            client(face_crops[:2], other)
    finally:
        worker.stop()
        delete_queue(create_app(), queue)


@pytest.mark.services
def test_a_broken_scoring_worker_is_a_fault_the_scan_retries(broker, start_worker, tmp_path):
    queue = new_queue()
    worker = start_worker(consumes=[queue], scoring_queue=queue,
                          detector_checkpoint=str(tmp_path / "absent.pt"))
    try:
        with pytest.raises(ScoringUnavailable, match="failed: ModelWeightsMissing.*absent.pt"):
            _client(queue)([np.zeros((160, 160, 3), np.uint8)], SwapDetector.load().config)
    finally:
        worker.stop()
        delete_queue(create_app(), queue)


@pytest.mark.services
def test_without_a_scoring_worker_the_scan_is_told_so_in_time(broker):
    queue = new_queue()
    try:
        with pytest.raises(ScoringUnavailable, match=rf"{queue}.*2 s"):
            _client(queue, timeout=2)([np.zeros((160, 160, 3), np.uint8)],
                                      SwapDetector.load().config)
    finally:
        delete_queue(create_app(), queue)


@pytest.mark.services
@pytest.mark.slow
def test_a_scan_worker_hands_its_crops_to_the_scoring_workers(sessions, videos, start_worker):
    """The scan worker loads no model; with no scoring worker its scan retries, and the
    crops it had sent expire; a scoring worker started later scores the retried scan's."""
    scoring = new_queue()
    scans = start_worker(scoring_queue=scoring, scoring_timeout_s="4")
    scorer = None
    try:
        upload_id = upload(sessions, videos / CLIP)
        send_scan(upload_id, start_worker.queue)
        wait_for(lambda: "ScoringUnavailable" in scans.log(), 120,
                 what="the scan worker's retry")
        assert "retrying" in scans.log()
        scorer = start_worker(consumes=[scoring], scoring_queue=scoring)
        verdict = wait_for_verdict(sessions, upload_id, timeout=180)
        assert verdict.decision == "allow"
        assert counts(sessions, upload_id)["status"] == "done"
        assert "worker.tasks.score_crops" in scorer.log()
        assert "succeeded" in scorer.log()
        # The scan worker took no scoring task itself.
        assert "Task worker.tasks.score_crops[" not in scans.log()
    finally:
        for worker in (scans, scorer):
            if worker is not None:
                worker.stop()  # before their queue goes
        delete_queue(create_app(), scoring)


@pytest.mark.services
@pytest.mark.slow
def test_scan_workers_of_several_hosts_share_one_scoring_worker(sessions, videos, start_worker):
    """Two scan workers (as on two hosts: their own processes and broker connections, one
    broker and one database) and one scoring worker, all started by moderation-worker."""
    scoring = new_queue()
    scans = [start_worker(roles=["scans"], scoring_queue=scoring, worker_min_processes="1",
                          worker_max_processes="1") for _ in range(2)]
    scorer = start_worker(roles=["scoring"], scoring_queue=scoring, worker_min_processes="1",
                          worker_max_processes="1")
    try:
        clips = ["real_ffpp_c23_634.mp4", "real_ffpp_c23_004.mp4", "real_hamilton_640x360.mp4",
                 "real_ffpp_c23_519.mp4"]
        uploads = [upload(sessions, videos / clip) for clip in clips]
        for upload_id in uploads:
            send_scan(upload_id, start_worker.queue)
        decisions = {wait_for_verdict(sessions, upload_id, timeout=240).decision
                     for upload_id in uploads}
        assert decisions == {"allow"}
        # Both scan workers took scans; every crop was scored by the scoring worker.
        for worker in scans:
            assert "verdict allow" in worker.log()
            assert "Task worker.tasks.score_crops[" not in worker.log()
        assert scorer.log().count("Task worker.tasks.score_crops[") >= 2 * len(uploads)
    finally:
        for worker in (*scans, scorer):
            worker.stop()
        delete_queue(create_app(), scoring)
