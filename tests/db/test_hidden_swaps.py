"""A swap hidden in part of a file is still judged (`moderation scan`, the embedded database):
after real footage in MPEG-TS files joined end to end (the timestamps start again), in a second
video stream, after a resolution change, in a file whose declared duration is false. Built from
the shared clips: a real clip and an FF++ deepfake."""

from __future__ import annotations

import json

import pytest

from tests.db.test_embedded_scan import VIDEOS, moderation
from tests.video import evasion, hostile

pytestmark = [pytest.mark.shared, pytest.mark.slow]

REAL = (VIDEOS / "real_ffpp_c23_634.mp4", 0.0, 10.0)
SWAP = (VIDEOS / "fake_ffpp_c23_deepfakes_519_515.mp4", 5.0, 11.0)
SIZE = (640, 360)


def _joined(folder):
    return evasion.joined(folder / "joined.ts", [evasion.clip_images(REAL, SIZE),
                                                 evasion.clip_images(SWAP, SIZE)], SIZE)


def _second_stream(folder):
    return evasion.two_streams(folder / "two.mkv", evasion.clip_images(REAL, SIZE),
                               evasion.clip_images(SWAP, SIZE), SIZE)


def _resized(folder):
    return evasion.resized(folder / "resized.ts", [(evasion.clip_images(REAL, SIZE), SIZE),
                                                   (evasion.clip_images(SWAP, (960, 540)),
                                                    (960, 540))])


def _false_duration(folder):
    path = hostile.spliced(folder / "short.mkv", [REAL, SWAP], size=SIZE, live=False)
    return hostile.false_duration(path, 3.0)


@pytest.mark.parametrize("build", [_joined, _second_stream, _resized, _false_duration],
                         ids=["joined_ts", "second_stream", "resolution_change",
                              "false_duration"])
def test_a_swap_after_real_footage_is_found(tmp_path, build):
    if not VIDEOS.is_dir():
        pytest.skip(f"{VIDEOS} is absent: the shared clips are needed")
    path = build(tmp_path)
    verdict = json.loads(moderation(tmp_path, "scan", path).stdout)
    assert verdict["decision"] == "review", verdict  # swap_detected: no one is enrolled here
    swaps = [reason for reason in verdict["reasons"] if reason["code"] == "swap_detected"]
    assert swaps and all(reason["start"] >= 9.0 for reason in swaps), verdict
