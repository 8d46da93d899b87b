"""Enrolment with the real face detector and describer (about 5 s): through the API, run by the
worker's task, and by the CLI; enrolling the same photo twice adds one descriptor."""

from __future__ import annotations

import json

import cv2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from moderation import cli
from moderation.config import Settings, get_settings
from moderation.db.models import PersonDescriptor, ProtectedPerson
from moderation.gate.app import create_app
from tests.gate.conftest import AUTH, TOKEN


@pytest.fixture()
def settings(postgres_url, astronaut_folder, tmp_path):
    return Settings(database_url=postgres_url, api_token=TOKEN,
                    source_roots=[astronaut_folder, tmp_path])


@pytest.fixture()
def client(settings, queue, sessions):
    """The API with its enrolments run at once, in process, by the worker's task."""
    from worker.tasks import enroll_person

    app = create_app(settings, enqueue=queue,
                     enqueue_enrolment=lambda eid: enroll_person.run(eid))
    with TestClient(app) as client:
        yield client


@pytest.fixture()
def worker_settings(monkeypatch, settings, postgres_url):
    # The worker reads its settings from the environment, as deployed: the same roots as the
    # API's, which it checks the enrolment's files against again before reading them.
    monkeypatch.setenv("MODERATION_DATABASE_URL", postgres_url)
    roots = [str(root) for root in settings.source_roots]
    monkeypatch.setenv("MODERATION_SOURCE_ROOTS", json.dumps(roots))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_enrol_a_person_from_a_photo_and_refuse_a_missing_one(worker_settings, client,
                                                               astronaut_folder, tmp_path):
    photo = str(astronaut_folder / "astronaut.png")
    response = client.post("/v1/persons", headers=AUTH, json={
        "name": "Eileen Collins", "sources": [photo], "consents": ["u1", "u2"]})
    assert response.status_code == 202, response.text
    enrolment = client.get(response.json()["enrolment"]["url"], headers=AUTH).json()
    assert (enrolment["status"], enrolment["added"]) == ("done", 1)
    person = client.get(f"/v1/persons/{response.json()['person_id']}", headers=AUTH).json()
    assert (person["name"], person["descriptors"], person["consents"]) == (
        "Eileen Collins", 1, ["u1", "u2"])
    image = client.get(person["reference_image"], headers=AUTH)
    assert image.headers["content-type"] == "image/jpeg" and image.content[:2] == b"\xff\xd8"

    missing = str(tmp_path / "nobody.jpg")
    response = client.post("/v1/persons", headers=AUTH,
                           json={"name": "Nobody", "sources": [missing]})
    assert response.status_code == 202
    enrolment = client.get(response.json()["enrolment"]["url"], headers=AUTH).json()
    assert enrolment["status"] == "failed" and missing in enrolment["error"]
    assert [(p["name"], p["descriptors"]) for p in client.get("/v1/persons",
                                                              headers=AUTH).json()] == [
        ("Eileen Collins", 1), ("Nobody", 0)]


def test_enrolment_sources_outside_the_roots_are_refused_alike(client):
    answers = []
    for source in ("/etc/passwd", "/etc/no-such-file.jpg"):
        response = client.post("/v1/persons", headers=AUTH,
                               json={"name": "Nobody", "sources": [source]})
        assert response.status_code == 422
        answers.append(response.json())
    assert answers[0] == answers[1]  # says nothing about what exists there
    assert answers[0]["detail"][0]["loc"] == ["body", "sources", 0]
    assert client.get("/v1/persons", headers=AUTH).json() == []


def test_the_cli_enrols_the_same_photo_once(worker_settings, astronaut_folder, sessions,
                                            capsys):
    photo = str(astronaut_folder / "astronaut.png")
    for _ in range(2):
        assert cli.main(["persons", "enroll", "Eileen Collins", photo]) == 0
    assert "1 descriptors" in capsys.readouterr().err
    with sessions() as session:
        assert len(session.scalars(select(PersonDescriptor.id)).all()) == 1
        assert session.scalar(select(ProtectedPerson.reference_image)) is not None


def test_the_cli_shows_a_bar_over_several_sources(worker_settings, astronaut_folder, astronaut,
                                                  tmp_path, sessions, capsys):
    mirrored = tmp_path / "mirrored.png"
    cv2.imwrite(str(mirrored), astronaut[:, ::-1])
    assert cli.main(["persons", "enroll", "Eileen Collins",
                     str(astronaut_folder / "astronaut.png"), str(mirrored)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    shown = captured.err.replace("\r", "\n").splitlines()
    assert any(line.startswith("describe: 100%") and "2/2" in line for line in shown), shown
    assert "from 2 sources: 2 descriptors" in shown[-1]


def test_describing_draws_a_bar_only_when_asked(astronaut_folder, astronaut, tmp_path, capsys):
    """The worker's enrolments (``Moderation.run_enrolment``) do not ask: its stderr is its
    log."""
    from moderation.enrolment import describe_sources
    from moderation.faces.scan import FaceScanner

    mirrored = tmp_path / "mirrored.png"
    cv2.imwrite(str(mirrored), astronaut[:, ::-1])
    sources = [astronaut_folder / "astronaut.png", mirrored]
    scanner = FaceScanner(Settings())
    assert len(describe_sources(scanner, sources)) == 2
    assert "describe" not in capsys.readouterr().err
    describe_sources(scanner, sources, progress=True)
    assert "describe: 100%" in capsys.readouterr().err
    describe_sources(scanner, sources[:1], progress=True)
    assert "describe" not in capsys.readouterr().err
