"""The chaos run's machinery at CI size (`make chaos` runs it on 100 uploads with a broker
restart too): a few short uploads through two real workers on servers of the test's own, while
one worker is killed with SIGKILL in the middle of a scan and the database restarts."""

from __future__ import annotations

import pytest

from bench.chaos import ChaosRun, make_uploads, table
from tests.private_servers import PrivatePostgres, PrivateRabbitMQ, ServerUnavailable

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture()
def servers_available():
    for server in (PrivatePostgres, PrivateRabbitMQ):
        try:
            server().remove()
        except ServerUnavailable as exc:
            pytest.skip(str(exc))


def test_a_worker_killed_mid_scan_and_a_database_restart_lose_nothing(videos, tmp_path,
                                                                      servers_available):
    uploads = make_uploads(tmp_path / "uploads", 10, seconds=1.0)
    run = ChaosRun(uploads, tmp_path, processes=2, faults={"kill": 0.1, "database": 0.3},
                   down_s=2.0, timeout_s=120, say=lambda _line: None,
                   worker_settings={"MODERATION_FRAMES_PER_VIDEO": "8"})
    result = run.run()
    kill, database = result.faults
    assert (kill.kind, database.kind) == ("kill", "database")
    assert kill.at is not None and len(kill.in_flight) == 1  # killed while scanning that one
    assert database.at is not None and database.in_flight  # a scan met the outage
    assert (result.verdicts, result.duplicates, result.lost, result.stuck) == (10, 0, 0, 0)
    assert result.redone >= 1  # the killed worker's scan, redone by another
    assert result.ok
    assert sum(result.per_worker) >= 10 and len(result.per_worker) == 3  # with the replacement
    faults, summary = table(result, "CI")  # the report renders
    assert (faults.row_count, summary.row_count) == (2, 14)
