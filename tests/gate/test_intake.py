"""What the API lets in: upload sources only under the source roots, bounded bodies, and 422
without echo for any malformed body. Real PostgreSQL, real files and symlinks in a tmp root."""

from __future__ import annotations

import json
import os

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moderation.config import Settings
from moderation.db.models import Upload
from moderation.gate.app import create_app
from tests.gate.conftest import AUTH, TOKEN


@pytest.fixture()
def root(tmp_path):
    root = tmp_path / "uploads"
    root.mkdir()
    (root / "clip.mp4").write_bytes(b"\0" * 100)
    return root


@pytest.fixture()
def settings(postgres_url, root):
    return Settings(database_url=postgres_url, api_token=TOKEN, source_roots=[root],
                    max_request_bytes=64 * 1024)


def _post(client, source):
    return client.post("/v1/uploads", headers=AUTH,
                       json={"source": source, "uploader_id": "u1"})


def _uploads(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Upload))


def test_a_file_under_the_root_is_registered(client, sessions, queue, root):
    response = _post(client, str(root / "clip.mp4"))
    assert response.status_code == 201, response.text
    # Not there yet is fine: the worker waits for it (and retries) before giving up.
    assert _post(client, str(root / "later.mp4")).status_code == 201
    inner = root / "inner"
    inner.mkdir()
    (inner / "link.mp4").symlink_to(root / "clip.mp4")  # a symlink staying inside the root
    assert _post(client, str(inner / "link.mp4")).status_code == 201
    assert len(queue.sent) == 3


def test_sources_outside_the_roots_are_422_and_say_nothing_of_what_exists(client, sessions,
                                                                          queue, root,
                                                                          tmp_path):
    (root / "shadow.mp4").symlink_to("/etc/shadow")
    (root / "gone.mp4").symlink_to("/etc/no-such-file")
    (tmp_path / "beside.mp4").write_bytes(b"x")
    hostile = ["/etc/shadow", "/etc/no-such-file", "/proc/self/environ", "/dev/zero",
               f"{root}/../../../etc/shadow", f"{root}/../beside.mp4", str(root),
               str(root / "shadow.mp4"), str(root / "gone.mp4"), f"{root}x/clip.mp4"]
    bodies = set()
    for source in hostile:
        response = _post(client, source)
        assert response.status_code == 422, source
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "source"] and error["type"] == "source_refused"
        bodies.add(error["msg"])
    assert bodies == {"is not a file under the upload folders; only those are scanned"}
    assert _uploads(sessions) == 0 and queue.sent == []


@pytest.mark.parametrize("source", ["file:///etc/passwd", "http://127.0.0.1:9/clip.mp4",
                                    "javascript://alert(1)", "s3://bucket/clip.mp4",
                                    "data:video/mp4;base64,AAAA", "clip.mp4", "//host/clip.mp4",
                                    "/videos/a\nb.mp4"])
def test_urls_and_odd_paths_are_422(client, sessions, source):
    response = _post(client, source)
    assert response.status_code == 422, source
    assert response.json()["detail"][0]["loc"][-1] == "source"
    assert source not in response.text  # no echo
    assert _uploads(sessions) == 0


def test_a_directory_or_fifo_in_the_root_is_named(client, root):
    (root / "folder.mp4").mkdir()
    os.mkfifo(root / "pipe.mp4")
    response = _post(client, str(root / "folder.mp4"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "is a directory, not a regular file"
    response = _post(client, str(root / "pipe.mp4"))
    assert response.json()["detail"][0]["msg"] == "is a named pipe (FIFO), not a regular file"


def test_a_body_over_the_limit_is_413_before_it_is_parsed(client, sessions):
    big = json.dumps({"source": "/x" * 40_000, "uploader_id": "u"}).encode()
    response = client.post("/v1/uploads", content=big,
                           headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"detail": "the request body is larger than 65536 bytes"}

    def chunks():  # no Content-Length: counted while it is read
        for _ in range(20):
            yield b" " * 8192

    response = client.post("/v1/uploads", content=chunks(),
                           headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 413
    assert _uploads(sessions) == 0


@pytest.mark.parametrize("raw", [
    b'{"source": "/videos/a\\u0000.mp4", "uploader_id": "u"}',
    b'{"source": "/videos/a.mp4", "uploader_id": "u\\u0000"}',
    b'{"source": "/videos/a.mp4", "uploader_id": "\\ud800"}',
    b'{"source": NaN, "uploader_id": "u"}',
    b'{"source": "/videos/a.mp4", "uploader_id": Infinity}',
    b'{"source": "/videos/a.mp4", "uploader_id": "u"',
    b'[1, 2, 3]',
    b'\xff\xfe not utf-8'])
def test_malformed_bodies_are_422_without_echo(client, sessions, raw):
    response = client.post("/v1/uploads", content=raw,
                           headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    for error in response.json()["detail"]:
        assert set(error) == {"loc", "msg", "type"}
    assert _uploads(sessions) == 0


def test_a_422_never_echoes_the_body(client):
    marker = "SECRET-" + "y" * 5000
    response = client.post("/v1/uploads", headers=AUTH,
                           json={"source": 12345, "uploader_id": marker, "extra": marker})
    assert response.status_code == 422
    assert "SECRET" not in response.text and len(response.content) < 2000


def test_roots_from_the_environment(postgres_url, sessions, monkeypatch, root, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("MODERATION_SOURCE_ROOTS", f"{root}{os.pathsep}{other}")
    settings = Settings(database_url=postgres_url, api_token=TOKEN)
    assert settings.source_roots == [root, other]
    with TestClient(create_app(settings, enqueue=lambda _: None)) as client:
        assert _post(client, str(other / "a.mp4")).status_code == 201
        assert _post(client, "/data/uploads/a.mp4").status_code == 422
