"""The database restarts in the middle of a batch: every upload still gets exactly one verdict.

The server is one of the test's own (``tests/private_servers.py``), so restarting it disturbs
nobody; the test checks that the outage really met the batch: a scan was running when the
server stopped, its connections were cut, and it recorded its verdict after the restart.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from moderation.db.models import Scan, Verdict
from moderation.db.session import engine_for, session_factory
from tests.worker.conftest import (
    counts,
    migrated_database,
    send_scan,
    upload,
    wait_for,
    wait_for_verdict,
)

pytestmark = pytest.mark.slow

CLIPS = ["real_ffpp_c23_634.mp4", "real_ffpp_c23_004.mp4", "real_hamilton_640x360.mp4",
         "fake_ffpp_c23_faceswap_634_660.mp4"]


def _a_scan_just_started(sessions, seen: set[str]) -> str | None:
    """The id of a scan running now that was not running at the last look."""
    with sessions() as session:
        running = set(session.scalars(select(Scan.id).where(Scan.status == "running")))
    fresh = running - seen
    seen |= running
    return next(iter(fresh), None)


def test_a_database_restart_during_a_batch_loses_nothing(videos, start_worker,
                                                         private_postgres):
    url = migrated_database(private_postgres)
    sessions = session_factory(url)
    worker = start_worker(database_url=url)
    uploads = [upload(sessions, videos / clip) for clip in CLIPS]
    for upload_id in uploads:
        send_scan(upload_id, worker.queue)
    wait_for_verdict(sessions, uploads[0], timeout=180)
    # Stop the server just after the next scan started, so its analysis (seconds) is still
    # running when the database goes away under it.
    seen: set[str] = set()
    in_flight = wait_for(lambda: _a_scan_just_started(sessions, seen), timeout=120,
                         every=0.05, what="the next scan to start")
    with sessions() as session:  # the scan's advisory lock: the worker's connection is open
        locks = session.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))
    postmaster = private_postgres.pid
    stopped_at = datetime.now(UTC)
    private_postgres.restart(down_s=2.0)
    assert locks >= 1 and private_postgres.pid != postmaster
    engine_for(url).dispose()  # this test's own pooled connections died with it too
    for upload_id in uploads:
        wait_for_verdict(sessions, upload_id, timeout=300)

    # The outage met the batch: the scan in flight at the stop (its lock's connection cut by
    # the server's fast shutdown) recorded its verdict only after the server came back.
    with sessions() as session:
        verdict = session.scalar(select(Verdict).where(Verdict.scan_id == in_flight))
    assert verdict.created_at > stopped_at
    for upload_id in uploads:
        seen_counts = counts(sessions, upload_id)
        assert (seen_counts["verdicts"], seen_counts["current"], seen_counts["scans"]) == (
            1, 1, 1), seen_counts
        assert seen_counts["status"] == "done"
