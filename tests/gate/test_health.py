"""Liveness and readiness on the real PostgreSQL and RabbitMQ: ``/readyz`` answers 503 naming
the schema, the broker or the detector when one is not usable, 200 when all are."""

from __future__ import annotations

import socket
import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from moderation.config import Settings
from moderation.gate.app import create_app
from moderation.gate.health import Readiness, expected_heads
from tests.conftest import POSTGRES_ADMIN
from tests.gate.conftest import SOURCE_ROOT, TOKEN

SECRET = "hunter2"  # a password in the URLs, which no answer may show


def closed_port() -> int:
    """A localhost port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def empty_database():
    """A new database with no tables at all (never migrated), reached with a password in its
    URL (the server trusts local connections, so any password works)."""
    name = f"moderation_empty_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN).set(database=name, password=SECRET)
    url = url.render_as_string(hide_password=False)
    yield url
    from moderation.db.session import engine_for

    engine_for(url).dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def serve(**settings) -> TestClient:
    return TestClient(create_app(Settings(api_token=TOKEN, source_roots=[SOURCE_ROOT],
                                          **settings),
                                 enqueue=lambda _id: None, enqueue_enrolment=lambda _id: None),
                      raise_server_exceptions=False)


def test_a_migrated_database_a_broker_and_the_detector_are_ready(postgres_url, detector_config):
    with serve(database_url=postgres_url) as client:
        response = client.get("/readyz")
        assert client.get("/healthz").json() == {"ok": True}
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ready"] is True and body["failing"] == []
    assert body["checks"]["schema"] == {"ok": True, "url": postgres_url,
                                        "revision": ", ".join(sorted(expected_heads()))}
    assert body["checks"]["broker"]["ok"] and "127.0.0.1:5672" in body["checks"]["broker"]["url"]
    detector = body["checks"]["detector"]
    assert detector["ok"] and detector["version"] == detector_config.version
    assert detector["threshold"] == detector_config.threshold


@pytest.mark.services  # PostgreSQL reached by URL, RabbitMQ by default
def test_an_unmigrated_database_is_not_ready_and_the_schema_is_named(empty_database):
    with serve(database_url=empty_database) as client:
        assert client.get("/healthz").status_code == 200  # alive all the same
        response = client.get("/readyz")
        # What readiness guards against: the routes cannot work on this database.
        assert client.get("/v1/persons", headers={"Authorization": f"Bearer {TOKEN}"}
                          ).status_code == 500
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and body["failing"] == ["schema"]
    error = body["checks"]["schema"]["error"]
    assert "has no schema (no Alembic revision)" in error and "moderation db upgrade" in error
    assert empty_database.rsplit("/", 1)[1] in error
    assert SECRET not in response.text and "***" in error
    assert body["checks"]["broker"]["ok"] and body["checks"]["detector"]["ok"]


@pytest.mark.services  # PostgreSQL reached by URL, RabbitMQ by default
def test_a_database_behind_the_head_is_not_ready(empty_database):
    from moderation.db.session import upgrade

    upgrade(empty_database, "0003")
    with serve(database_url=empty_database) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["checks"]["schema"]["error"]
    (head,) = expected_heads()
    assert f"is at revision 0003; this code needs {head}" in error


@pytest.mark.services  # PostgreSQL reached by URL, RabbitMQ by default
def test_an_unreachable_database_is_named_too():
    port = closed_port()
    with serve(database_url=f"postgresql+psycopg2://postgres:{SECRET}@127.0.0.1:{port}/none"
               ) as client:
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failing"] == ["schema"]
    error = response.json()["checks"]["schema"]["error"]
    assert error.startswith(f"cannot query the database at postgresql+psycopg2://postgres:***"
                            f"@127.0.0.1:{port}/none: ")
    assert SECRET not in response.text


@pytest.mark.parametrize("scheme", ["amqp", "redis"])
def test_an_unreachable_broker_is_not_ready_and_is_named(postgres_url, scheme):
    port = closed_port()
    url = (f"amqp://guest:{SECRET}@127.0.0.1:{port}//" if scheme == "amqp"
           else f"redis://:{SECRET}@127.0.0.1:{port}/0")
    started = time.monotonic()
    with serve(database_url=postgres_url, broker_url=url) as client:
        response = client.get("/readyz")
    assert time.monotonic() - started < 10
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    error = body["checks"]["broker"]["error"]
    assert error.startswith(f"cannot connect to the broker at {scheme}://")
    assert f"127.0.0.1:{port}" in error and "refused" in error.lower()
    assert SECRET not in response.text


def test_a_missing_or_damaged_detector_is_not_ready(postgres_url, tmp_path):
    with serve(database_url=postgres_url, detector_checkpoint=tmp_path / "gone.pt") as client:
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["failing"] == ["detector"]
    assert "gone.pt does not exist" in response.json()["checks"]["detector"]["error"]
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 64)
    with serve(database_url=postgres_url, detector_checkpoint=tmp_path / "junk.pt") as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "is not a readable detector checkpoint" in response.json()["checks"]["detector"]["error"]


def test_a_check_that_hangs_fails_in_time_and_runs_once_at_a_time():
    release = threading.Event()
    runs = []

    def hangs() -> dict:
        runs.append(1)
        release.wait(30)
        return {}

    readiness = Readiness({"slow": hangs, "fast": lambda: {"answer": 42}}, timeout_s=0.3)
    for _ in range(3):
        started = time.monotonic()
        report = readiness.report()
        assert time.monotonic() - started < 2
        assert report["failing"] == ["slow"]
        assert report["checks"]["slow"]["error"].startswith("no answer after")
        assert report["checks"]["fast"] == {"ok": True, "answer": 42}
    assert len(runs) == 1  # the hung run is waited on again, not started anew
    release.set()
    time.sleep(0.1)
    assert readiness.report()["ready"] is True and len(runs) == 2
