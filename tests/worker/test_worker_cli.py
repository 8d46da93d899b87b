"""``moderation-worker``: the roles' queues and pool bounds from the settings, bad roles and
settings as one line, and a real worker started by it with those bounds and queues."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from moderation.config import Settings
from moderation.errors import ConfigError
from tests.worker.conftest import BROKER, send_scan, upload, wait_for, wait_for_verdict
from worker.app import create_app
from worker.cli import worker_argv
from worker.local import REPO


def test_each_role_consumes_the_queue_its_setting_names():
    settings = Settings(queue="scans-q", alert_queue="alerts-q", scoring_queue="gpu-q",
                        worker_min_processes=0, worker_max_processes=4)
    argv = worker_argv(settings, ["scans", "alerts", "scans"])
    assert argv[:3] == ["worker", "-Q", "scans-q,alerts-q"]
    assert argv[argv.index("--autoscale") + 1] == "4,0"
    assert argv[argv.index("-n") + 1] == "scans+alerts@%h"
    assert worker_argv(settings, ["scoring"])[2] == "gpu-q"
    # Equal bounds are a fixed pool, not an autoscaler.
    fixed = worker_argv(Settings(worker_min_processes=3, worker_max_processes=3), ["scans"])
    assert "--autoscale" not in fixed and fixed[fixed.index("--concurrency") + 1] == "3"


def test_the_scoring_role_needs_its_queue_and_a_worker_of_its_own():
    with pytest.raises(ConfigError, match="MODERATION_SCORING_QUEUE"):
        worker_argv(Settings(scoring_queue=""), ["scoring"])
    # Its scans would wait for scoring tasks that only their own busy pool could run.
    with pytest.raises(ConfigError, match="cannot share a worker"):
        worker_argv(Settings(scoring_queue="gpu-q"), ["scans", "scoring"])
    assert worker_argv(Settings(scoring_queue="gpu-q"), ["alerts", "scoring"])[2] == \
        "moderation-alerts,gpu-q"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker.cli", *args], cwd=REPO,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_mistakes_are_one_line_naming_the_variable():
    done = _run("scoring", "--print", MODERATION_SCORING_QUEUE="")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "MODERATION_SCORING_QUEUE" in done.stderr and len(done.stderr.splitlines()) == 1
    done = _run("scans", "--print", MODERATION_WORKER_MIN_PROCESSES="5",
                MODERATION_WORKER_MAX_PROCESSES="2")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "MODERATION_WORKER_MAX_PROCESSES" in done.stderr
    done = _run("gpu")
    assert done.returncode == 2 and "invalid choice: 'gpu'" in done.stderr
    done = _run("scans", "alerts", "--print", MODERATION_QUEUE="q1")
    assert done.returncode == 0
    assert done.stdout.startswith("celery -A worker.app worker -Q q1,moderation-alerts ")


@pytest.mark.services
@pytest.mark.slow
def test_a_worker_it_starts_grows_its_pool_within_the_settings_bounds(sessions, videos,
                                                                       start_worker):
    worker = start_worker(roles=["scans"], worker_min_processes="1",
                          worker_max_processes="2", torch_threads="1")
    app = create_app(Settings(broker_url=BROKER, queue=worker.queue))
    inspect = app.control.inspect([worker.hostname], timeout=5)
    # It consumes the queue its settings name, with Celery's autoscaler holding the bounds;
    # idle, the pool is at its smallest.
    assert [q["name"] for q in inspect.active_queues()[worker.hostname]] == [worker.queue]
    autoscaler = inspect.stats()[worker.hostname]["autoscaler"]
    assert (autoscaler["max"], autoscaler["min"], autoscaler["current"]) == (2, 1, 1)
    # Four scans queued at once: the worker reserves more than one and grows to two processes.
    clips = ["real_ffpp_c23_634.mp4", "real_ffpp_c23_004.mp4", "real_hamilton_640x360.mp4",
             "real_ffpp_c23_519.mp4"]
    uploads = [upload(sessions, videos / clip) for clip in clips]
    for upload_id in uploads:
        send_scan(upload_id, worker.queue)
    wait_for(lambda: inspect.stats()[worker.hostname]["autoscaler"]["current"] == 2, 120,
             what="the pool's second process")
    assert "Scaling up 1 processes" in worker.log()
    assert {wait_for_verdict(sessions, upload_id).decision for upload_id in uploads} == {"allow"}
