"""The database restarts in the middle of a batch: every upload still gets exactly one verdict.

This restarts this machine's own PostgreSQL server (CI runs on a machine of its own, with its
own services), so it needs root and pg_ctlcluster; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.worker.conftest import counts, send_scan, upload, wait_for_verdict

CLIPS = ["real_ffpp_c23_634.mp4", "real_ffpp_c23_004.mp4", "real_hamilton_640x360.mp4",
         "fake_ffpp_c23_faceswap_634_660.mp4"]


def restart_postgres() -> None:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main",
                    "restart"], check=True, capture_output=True, timeout=120)


def test_a_database_restart_during_a_batch_loses_nothing(sessions, videos, start_worker):
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None \
            or not Path("/etc/postgresql").is_dir():
        pytest.skip("restarting PostgreSQL needs root and pg_ctlcluster (Debian's cluster tools)")
    worker = start_worker()
    uploads = [upload(sessions, videos / clip) for clip in CLIPS]
    for upload_id in uploads:
        send_scan(upload_id, worker.queue)
    wait_for_verdict(sessions, uploads[0], timeout=180)
    restart_postgres()  # the later scans meet a database that went away under them
    sessions.kw["bind"].dispose()  # this test's own pooled connections died with it too
    for upload_id in uploads:
        wait_for_verdict(sessions, upload_id, timeout=300)
    for upload_id in uploads:
        seen = counts(sessions, upload_id)
        assert (seen["verdicts"], seen["current"], seen["scans"]) == (1, 1, 1), seen
        assert seen["status"] == "done"
