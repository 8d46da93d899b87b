"""`moderation scan`: the whole pipeline in process on the embedded SQLite database, on the
shared clips: a swap of an enrolled person is blocked, a real clip is allowed."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from tests.conftest import SHARED

VIDEOS = SHARED / "data" / "videos"


def moderation(tmp_path, *args):
    env = {**os.environ, "MODERATION_DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.db'}"}
    result = subprocess.run([sys.executable, "-m", "moderation", *map(str, args)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_a_swapped_in_protected_person_is_blocked_and_a_real_clip_allowed(tmp_path):
    if not VIDEOS.is_dir():
        pytest.skip(f"{VIDEOS} is absent: the shared clips are needed")
    fake = VIDEOS / "fake_ffpp_c23_deepfakes_519_515.mp4"
    enrolled = moderation(tmp_path, "persons", "enroll", "Person 515", fake)
    assert enrolled.returncode == 0, enrolled.stderr
    blocked = json.loads(moderation(tmp_path, "scan", fake).stdout)
    assert blocked["decision"] == "block"
    reason = blocked["reasons"][0]
    assert reason["code"] == "portrait_rights_swap" and reason["person"] == "Person 515"
    assert reason["end"] - reason["start"] > 20 and reason["score"] >= 0.99
    allowed = json.loads(moderation(tmp_path, "scan", VIDEOS / "real_ffpp_c23_634.mp4").stdout)
    assert allowed["decision"] == "allow"


def test_a_missing_or_corrupt_file_is_reported_not_crashed(tmp_path):
    missing = moderation(tmp_path, "scan", tmp_path / "nowhere.mp4")
    assert missing.returncode == 2 and "nowhere.mp4: no such file" in missing.stderr
    poison = tmp_path / "poison.mp4"
    poison.write_bytes(random.Random(3).randbytes(4000))  # seeded: the same file every run
    verdict = json.loads(moderation(tmp_path, "scan", poison).stdout)
    assert verdict["decision"] == "unprocessable" and "poison.mp4" in verdict["reasons"][0][
        "message"]
