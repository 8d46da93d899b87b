"""A real worker process on the real RabbitMQ broker and the test session's PostgreSQL database,
consuming a queue of its own; servers of a test's own for the tests that restart them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from moderation.db.models import Alert, Scan, Upload, Verdict
from moderation.db.uploads import register_upload
from tests.conftest import SHARED
from tests.private_servers import PrivatePostgres, ServerUnavailable
from worker.app import app
from worker.local import LocalWorker, delete_queue

VIDEOS = SHARED / "data" / "videos"
BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(scope="session")
def videos() -> Path:
    if not VIDEOS.is_dir():
        pytest.skip(f"{VIDEOS} is absent: the shared clips are needed")
    return VIDEOS


def new_queue() -> str:
    return f"moderation-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def broker():
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # whichever way it fails, the tests cannot run
        pytest.skip(f"RabbitMQ at {BROKER} is not reachable: {exc}")


@pytest.fixture(scope="session")
def queue(broker):
    """The shared worker's queue, which no other worker on this broker consumes."""
    name = new_queue()
    yield name
    delete_queue(app, name)


@pytest.fixture(scope="session")
def worker_env(postgres_url, tmp_path_factory) -> dict[str, str]:
    # Uploads are the shared clips and files the tests write under pytest's temporary folder.
    roots = [str(VIDEOS.resolve()), str(tmp_path_factory.getbasetemp().resolve())]
    return {"MODERATION_DATABASE_URL": postgres_url, "MODERATION_BROKER_URL": BROKER,
            "MODERATION_SOURCE_ROOTS": json.dumps(roots)}


@pytest.fixture()
def start_worker(broker, worker_env, tmp_path) -> Callable[..., LocalWorker]:
    """Starts workers on a queue of this test's own (the tests that kill workers must not share
    one with the shared worker); all are stopped and the queue deleted after the test."""
    name = new_queue()
    started: list[LocalWorker] = []

    def start(concurrency: int = 1, consumes: list[str] | None = None,
              roles: list[str] | None = None, **settings: str) -> LocalWorker:
        """``settings``: more MODERATION_* variables, by field name; ``consumes``: the queues
        it takes tasks from instead of this test's scan and alert queues; ``roles``: started
        by ``moderation-worker`` with these roles instead."""
        env = {**worker_env, **{f"MODERATION_{key.upper()}": value
                                for key, value in settings.items()}}
        log = tmp_path / f"worker{len(started)}.log"
        worker = LocalWorker(name, env, log, concurrency, consumes, roles)
        started.append(worker)
        return worker.start()

    start.queue = name  # known before any worker starts
    yield start
    for worker in started:
        worker.stop()
    delete_queue(app, name)


@pytest.fixture(scope="session")
def shared_worker(queue, worker_env, tmp_path_factory):
    """One worker for the tests that do not kill it (starting one costs seconds)."""
    worker = LocalWorker(queue, worker_env, tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture()
def private_postgres():
    """A PostgreSQL server of this test's own, which the test may stop and restart."""
    try:
        server = PrivatePostgres()
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    with server:
        yield server


def migrated_database(server: PrivatePostgres, name: str = "moderation") -> str:
    """A new database on ``server`` migrated to head by Alembic; its URL."""
    from moderation.db.session import upgrade

    url = server.create_database(name)
    upgrade(url)
    return url


def upload(sessions, source: Path | str, uploader: str = "tester") -> str:
    with sessions() as session, session.begin():
        return register_upload(session, str(source), uploader).id


def send_scan(upload_id: str, queue: str) -> None:
    app.send_task("worker.tasks.scan_upload", args=[upload_id], queue=queue)


def wait_for(condition: Callable[[], object], timeout: float = 120.0, every: float = 0.2,
             what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def wait_for_verdict(sessions, upload_id: str, timeout: float = 120.0) -> Verdict:
    def current():
        with sessions() as session:
            return session.scalar(select(Verdict).where(Verdict.upload_id == upload_id,
                                                        Verdict.is_current))

    return wait_for(current, timeout, what=f"the verdict of upload {upload_id}")


def counts(sessions, upload_id: str) -> dict:
    with sessions() as session:
        scans = session.scalars(select(Scan).where(Scan.upload_id == upload_id)).all()
        return {
            "verdicts": session.scalar(select(func.count()).select_from(Verdict)
                                       .where(Verdict.upload_id == upload_id)),
            "current": session.scalar(select(func.count()).select_from(Verdict)
                                      .where(Verdict.upload_id == upload_id,
                                             Verdict.is_current)),
            "scans": len(scans),
            "attempts": [scan.attempts for scan in scans],
            "status": session.get(Upload, upload_id).status,
        }


@pytest.fixture()
def configure(monkeypatch, postgres_url):
    """Point the tasks' settings (read from the environment, and so their service) at the test
    database, with more MODERATION_* variables by field name."""
    from moderation.config import get_settings
    from worker import base

    def apply(**values):
        monkeypatch.setenv("MODERATION_DATABASE_URL", postgres_url)
        for name, value in values.items():
            monkeypatch.setenv(f"MODERATION_{name.upper()}", str(value))
        get_settings.cache_clear()
        base._services.clear()

    yield apply
    get_settings.cache_clear()
    base._services.clear()


def new_alert(sessions, payload: dict | None = None) -> int:
    """A block verdict of a new upload with an alert not yet delivered; the alert's id."""
    with sessions() as session, session.begin():
        upload = register_upload(session, "/videos/clip.mp4", "u1")
        scan = Scan(upload_id=upload.id, detector_version="v1", status="done", attempts=1)
        session.add(scan)
        session.flush()
        verdict = Verdict(upload_id=upload.id, scan_id=scan.id, decision="block",
                          detector_version="v1", reasons=[])
        session.add(verdict)
        session.flush()
        alert = Alert(verdict_id=verdict.id, upload_id=upload.id,
                      payload=payload or {"upload_id": upload.id, "decision": "block",
                                          "reasons": [{"code": "portrait_rights_swap",
                                                       "message": "Ann Éxample, 3–7 s"}]})
        session.add(alert)
        session.flush()
        return alert.id
