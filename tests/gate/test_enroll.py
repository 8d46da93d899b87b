"""Enrolment through the API runs the real face detector and describer (about 5 s)."""

from __future__ import annotations

import pytest

from moderation.config import Settings
from tests.gate.conftest import AUTH, TOKEN


@pytest.fixture()
def settings(postgres_url, astronaut_folder, tmp_path):
    return Settings(database_url=postgres_url, api_token=TOKEN,
                    source_roots=[astronaut_folder, tmp_path])


def test_enrol_a_person_from_a_photo_and_refuse_a_missing_one(client, astronaut_folder,
                                                               tmp_path):
    photo = str(astronaut_folder / "astronaut.png")
    response = client.post("/v1/persons", headers=AUTH, json={
        "name": "Eileen Collins", "sources": [photo], "consents": ["u1", "u2"]})
    assert response.status_code == 201, response.text
    person = response.json()
    assert (person["name"], person["descriptors"], person["consents"]) == (
        "Eileen Collins", 1, ["u1", "u2"])
    assert client.get("/v1/persons", headers=AUTH).json() == [person]

    missing = str(tmp_path / "nobody.jpg")
    response = client.post("/v1/persons", headers=AUTH,
                           json={"name": "Nobody", "sources": [missing]})
    assert response.status_code == 400
    assert missing in response.json()["detail"]
    assert [p["name"] for p in client.get("/v1/persons", headers=AUTH).json()] == [
        "Eileen Collins"]


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
