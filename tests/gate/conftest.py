"""The gate's fixtures: an app on the test database with a stand-in queue, and flagged uploads
written straight into the tables (no detector runs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import pytest
from fastapi.testclient import TestClient

from moderation import cli
from moderation.config import Settings, get_settings
from moderation.db.models import Evidence, FaceTrack, Scan, Upload, Verdict
from moderation.db.persons import enroll
from moderation.gate.app import create_app

TOKEN = "t0ken"
SOURCE_ROOT = Path("/videos")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class StandInQueue:
    """Takes the place of the Celery broker: records the upload ids it is given, and whether
    each upload was already committed (visible from another session) when it was sent."""

    sessions: object
    sent: list[str] = field(default_factory=list)
    committed: list[bool] = field(default_factory=list)

    def __call__(self, upload_id: str) -> None:
        with self.sessions() as session:
            self.committed.append(session.get(Upload, upload_id) is not None)
        self.sent.append(upload_id)


@pytest.fixture()
def settings(postgres_url) -> Settings:
    # Stand-in uploads live under /videos (nothing needs to exist there to be registered).
    return Settings(database_url=postgres_url, api_token=TOKEN, source_roots=[SOURCE_ROOT])


@pytest.fixture()
def queue(sessions) -> StandInQueue:
    return StandInQueue(sessions)


@pytest.fixture()
def enrolments() -> list[str]:
    """The enrolment ids the API sent to the (stand-in) workers."""
    return []


@pytest.fixture()
def app(settings, queue, sessions, enrolments):
    return create_app(settings, enqueue=queue, enqueue_enrolment=enrolments.append)


@pytest.fixture()
def client(app):
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="session")
def detector_config():
    """The shipped checkpoint's version and threshold: the charts draw that threshold."""
    from moderation.detector.checkpoint import load_checkpoint
    from moderation.detector.inference import DEFAULT_CHECKPOINT

    config, _, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    return config


@pytest.fixture(scope="session")
def thumbnail(astronaut) -> bytes:
    ok, jpeg = cv2.imencode(".jpg", cv2.resize(astronaut, (96, 96)))
    assert ok
    return jpeg.tobytes()


def add_person(sessions, name="Ann Example") -> str:
    with sessions() as session, session.begin():
        return enroll(session, name, [("ann.jpg", [0.1] * 128)], "test").id


def add_reviewer(sessions, name="rita") -> str:
    """A reviewer; returns their token."""
    from moderation.db.reviewers import add_reviewer as add

    with sessions() as session, session.begin():
        return add(session, name, "test")[1]


def add_upload(sessions, source="/videos/clip.mp4", uploader="u1") -> str:
    with sessions() as session, session.begin():
        upload = Upload(source=source, uploader_id=uploader)
        session.add(upload)
        session.flush()
        return upload.id


def add_verdict(sessions, upload_id: str, decision: str, detector_version: str = "v-test",
                score: float = 0.999, thumbnail: bytes = b"\xff\xd8jpeg",
                person_id: str | None = None, threshold: float | None = None) -> str:
    """A finished scan with one swapped track (scores over time, two evidence frames) and its
    verdict, which becomes the current one; ``threshold`` is the one the verdict records."""
    with sessions() as session, session.begin():
        session.query(Verdict).filter(Verdict.upload_id == upload_id).update(
            {"is_current": False})
        scan = Scan(upload_id=upload_id, detector_version=detector_version, status="done",
                    attempts=1)
        track = FaceTrack(track_index=0, start_s=1.0, end_s=9.0, score=score, median_side=150.0,
                          times=[1.0, 3.0, 5.0, 7.0, 9.0], scores=[0.2, 0.9, score, 0.97, 0.5],
                          decisive=True, person_id=person_id,
                          match_distance=0.31 if person_id else None)
        track.evidence = [Evidence(time_s=5.0, score=score, image=thumbnail),
                          Evidence(time_s=7.0, score=0.97, image=thumbnail)]
        scan.tracks = [track]
        session.add(scan)
        session.flush()
        reasons = [{"code": {"block": "portrait_rights_swap", "review": "swap_detected"}.get(
                        decision, "no_swap_detected"),
                    "message": f"Stand-in reason for a {decision} verdict.", "track": 0}]
        verdict = Verdict(upload_id=upload_id, scan_id=scan.id, decision=decision, score=score,
                          threshold=threshold, detector_version=detector_version,
                          reasons=reasons)
        session.add(verdict)
        session.query(Upload).filter(Upload.id == upload_id).update({"status": "done"})
        session.flush()
        return verdict.id



@pytest.fixture()
def cli_env(monkeypatch, postgres_url, sessions):
    """The CLI in this process on the test database (the settings are read afresh)."""
    monkeypatch.setenv("MODERATION_DATABASE_URL", postgres_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``moderation ARGV`` in process: exit code, stdout, stderr."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@contextmanager
def served(app, **config) -> Iterator[str]:
    """``app`` on a free localhost port, served by uvicorn in a background thread (real HTTP);
    yields its base URL. ``config``: more ``uvicorn.Config`` options; or ``app`` is a
    ``uvicorn.Config`` already (building one sets up uvicorn's loggers, so a test adds its log
    handlers after that)."""
    import socket
    import threading
    import time

    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if not isinstance(app, uvicorn.Config):
        app = uvicorn.Config(app, lifespan="off", **{"log_level": "warning", **config})
    server = uvicorn.Server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()
