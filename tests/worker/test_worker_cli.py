"""``moderation-worker``: the roles' queues and pool bounds from the settings, bad roles and
settings as one line, and a real worker started by it with those bounds and queues."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from moderation.config import Settings
from moderation.errors import ConfigError
from tests.worker.conftest import BROKER, new_queue
from worker.app import create_app
from worker.cli import worker_argv
from worker.local import REPO, delete_queue


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


def test_the_scoring_role_needs_its_queue():
    with pytest.raises(ConfigError, match="MODERATION_SCORING_QUEUE"):
        worker_argv(Settings(scoring_queue=""), ["scoring"])


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
def test_a_worker_it_starts_has_the_settings_pool_bounds(broker, worker_env, tmp_path):
    queue = new_queue()
    node = f"scans-{uuid.uuid4().hex[:8]}@%h"
    log = tmp_path / "worker.log"
    env = {**os.environ, **worker_env, "MODERATION_QUEUE": queue,
           "MODERATION_WORKER_MIN_PROCESSES": "1", "MODERATION_WORKER_MAX_PROCESSES": "3"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "scans", "--", "-n", node,
             "--without-gossip", "--without-mingle"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    app = create_app(Settings(broker_url=BROKER, queue=queue))
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        name = node.replace("%h", os.uname().nodename)
        stats = app.control.inspect([name], timeout=5).stats()[name]
        # Celery's autoscaler holds the bounds; idle, the pool is at its smallest.
        autoscaler = stats["autoscaler"]
        assert (autoscaler["max"], autoscaler["min"], autoscaler["current"]) == (3, 1, 1)
        # It consumes the queue its settings name.
        active = app.control.inspect([name], timeout=5).active_queues()[name]
        assert [q["name"] for q in active] == [queue]
    finally:
        process.terminate()
        process.wait(30)
        delete_queue(app, queue)
