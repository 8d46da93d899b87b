"""The reader under 20 s of atheris (tests/video/fuzz_probe.py, seeded): only typed errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FUZZ = Path(__file__).with_name("fuzz_probe.py")


def test_twenty_seconds_of_fuzzing_the_reader_finds_nothing(tmp_path):
    pytest.importorskip("atheris")
    result = subprocess.run(
        [sys.executable, str(FUZZ), "--seconds", "20", "--seed", "7",
         "--artifacts", str(tmp_path)],
        capture_output=True, text=True, timeout=180,
        env={**os.environ, "PYTHONPATH": str(FUZZ.parents[2])})
    found = sorted(p.name for p in tmp_path.iterdir())
    assert result.returncode == 0 and not found, (found, result.stderr[-3000:])
    assert "Done" in result.stderr
