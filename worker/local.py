"""Running a worker as a child process of this one, for the tests and the benchmark: start it
on its own queue, wait until it consumes, find its pool processes, stop or kill it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from celery import Celery

REPO = Path(__file__).resolve().parents[1]


def alert_queue_of(queue: str) -> str:
    """The alert queue a :class:`LocalWorker` on ``queue`` consumes beside it."""
    return f"{queue}-alerts"


class LocalWorker:
    """``celery -A worker.app worker`` with its settings in ``env`` (``MODERATION_*``), on
    ``queue`` and on an alert queue of its own beside it (``alert_queue_of(queue)``), or on
    ``consumes`` alone where given (a scoring worker's queue)."""

    def __init__(self, queue: str, env: dict[str, str], log_path: Path, concurrency: int = 1,
                 consumes: list[str] | None = None, roles: list[str] | None = None):
        self.queue = queue
        self.alert_queue = alert_queue_of(queue)
        self.consumes = consumes or [queue, self.alert_queue]
        # Started by ``moderation-worker ROLE...`` instead: its queues and pool bounds then
        # come from the settings in ``env`` (``queue`` is the scans role's).
        self.roles = roles
        self.node = f"local-{uuid.uuid4().hex[:8]}@%h"
        self.env = {**os.environ, **env, "MODERATION_QUEUE": queue,
                    "MODERATION_ALERT_QUEUE": self.alert_queue}
        self.log_path = log_path
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> LocalWorker:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                # Its own process group: stopping it stops its pool processes too.
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while " ready." not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the worker did not start; its log:\n{self.log()}")
            time.sleep(0.1)
        return self

    def command(self) -> list[str]:
        quiet = ["--pool", "prefork", "-n", self.node, "--without-gossip", "--without-mingle",
                 "--without-heartbeat"]
        if self.roles:
            return [sys.executable, "-m", "worker.cli", *self.roles, "-l", "INFO", "--", *quiet]
        return [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-l", "INFO",
                "-Q", ",".join(self.consumes), "--concurrency", str(self.concurrency), *quiet]

    @property
    def hostname(self) -> str:
        """Its node name, as ``app.control.inspect`` takes it."""
        return self.node.replace("%h", os.uname().nodename)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def children(self) -> list[int]:
        """The pool's processes (those that run tasks)."""
        if self.process is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                # Fields after the command's closing parenthesis: state, then the parent's pid.
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(entry.name))
        return found

    def kill(self) -> None:
        """SIGKILL the whole worker, as when its machine dies."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown (running tasks finish), then SIGKILL after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        else:
            try:  # pool processes left behind
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self) -> LocalWorker:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def delete_queue(app: Celery, queue: str) -> None:
    """Remove a throwaway queue, the alert queue a LocalWorker consumed beside it, and their
    exchanges from the broker (deleting one that is not there is no error)."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        for name in (queue, alert_queue_of(queue)):
            channel.queue_delete(name)
            if not app.conf.broker_url.startswith("redis"):
                channel.exchange_delete(name)
