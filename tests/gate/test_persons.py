"""A protected person's life cycle through the API and the CLI: enrolment as a worker task
that the client polls, re-enrolment without duplicates, consents granted and revoked, removal;
every change in the audit log with who made it. Descriptions are stand-ins (no detector)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from moderation.db.models import AuditLog, FaceTrack, PersonDescriptor, ProtectedPerson
from moderation.db.persons import Described, run_enrolment
from moderation.errors import NoFaceFound
from tests.gate.conftest import AUTH, add_person, add_reviewer, add_upload, add_verdict, run_cli

JPEG = b"\xff\xd8\xff\xe0reference"


def _describe(paths: list[Path]) -> list[Described]:
    """One distinct stand-in descriptor per file name, digested by name."""
    described = []
    for path in paths:
        if "noface" in path.name:
            raise NoFaceFound(str(path), "no face to enrol")
        seed = sum(path.name.encode()) / 1000
        described.append(Described(str(path), [seed] * 128, f"digest-of-{path.name}", JPEG))
    return described


def _run(sessions, enrolment_id: str) -> str | None:
    return run_enrolment(sessions, _describe, "test", enrolment_id)


def _actions(sessions, person_id: str) -> list[tuple[str, str]]:
    with sessions() as session:
        return list(session.execute(select(AuditLog.actor, AuditLog.action)
                                    .where(AuditLog.person_id == person_id)
                                    .order_by(AuditLog.id)).tuples())


def test_enrolment_answers_202_and_runs_on_a_worker(client, sessions, enrolments):
    token = add_reviewer(sessions, "rita")
    bearer = {"Authorization": f"Bearer {token}"}
    response = client.post("/v1/persons", headers=bearer, json={
        "name": "Eileen Collins", "sources": ["/videos/a.jpg", "/videos/b.jpg"],
        "consents": ["u1"]})
    assert response.status_code == 202, response.text
    body = response.json()
    person, enrolment = body["person_id"], body["enrolment"]
    assert body["queued"] is True and enrolments == [enrolment["id"]]
    assert enrolment["status"] == "pending" and response.headers["location"] == enrolment["url"]
    # The person and the consent exist already; the descriptors come with the worker.
    detail = client.get(f"/v1/persons/{person}", headers=AUTH).json()
    assert (detail["descriptors"], detail["consents"]) == (0, ["u1"])

    assert _run(sessions, enrolment["id"]) == "done"
    polled = client.get(enrolment["url"], headers=AUTH).json()
    assert (polled["status"], polled["added"], polled["skipped"]) == ("done", 2, 0)
    detail = client.get(f"/v1/persons/{person}", headers=AUTH).json()
    assert detail["descriptors"] == 2
    assert detail["reference_image"] == f"/review/persons/{person}.jpg"
    assert [e["status"] for e in detail["enrolments"]] == ["done"]
    image = client.get(detail["reference_image"], headers=AUTH)
    assert image.status_code == 200 and image.content == JPEG
    assert _run(sessions, enrolment["id"]) == "done"  # a redelivery adds nothing

    # Again from one of the same files and a new one: only the new one is added.
    again = client.post("/v1/persons", headers=bearer, json={
        "name": "Eileen Collins", "sources": ["/videos/b.jpg", "/videos/c.jpg"]}).json()
    assert again["person_id"] == person
    _run(sessions, again["enrolment"]["id"])
    polled = client.get(again["enrolment"]["url"], headers=AUTH).json()
    assert (polled["added"], polled["skipped"]) == (1, 1)
    with sessions() as session:
        sources = session.scalars(select(PersonDescriptor.source)
                                  .order_by(PersonDescriptor.id)).all()
    assert sources == ["/videos/a.jpg", "/videos/b.jpg", "/videos/c.jpg"]
    assert _actions(sessions, person) == [
        ("rita", "consent_granted"), ("rita", "enrolment_requested"),
        ("rita", "person_enrolled"), ("rita", "enrolment_requested"),
        ("rita", "person_enrolled")]


def test_a_source_without_a_face_fails_the_enrolment(client, sessions):
    body = client.post("/v1/persons", headers=AUTH, json={
        "name": "Nobody", "sources": ["/videos/noface.jpg"]}).json()
    assert _run(sessions, body["enrolment"]["id"]) == "failed"
    polled = client.get(body["enrolment"]["url"], headers=AUTH).json()
    assert polled["status"] == "failed" and "/videos/noface.jpg" in polled["error"]
    assert client.get(f"/v1/persons/{body['person_id']}", headers=AUTH).json()[
        "descriptors"] == 0
    assert client.get("/v1/enrolments/nope", headers=AUTH).status_code == 404


def test_an_enrolment_the_broker_refused_is_failed_at_once(settings, queue, sessions):
    from fastapi.testclient import TestClient

    from moderation.gate.app import create_app

    def refuse(_enrolment_id: str) -> None:
        raise ConnectionError("broker down")

    with TestClient(create_app(settings, enqueue=queue, enqueue_enrolment=refuse)) as client:
        body = client.post("/v1/persons", headers=AUTH, json={
            "name": "Ann", "sources": ["/videos/a.jpg"]}).json()
    assert body["queued"] is False and body["enrolment"]["status"] == "failed"
    assert "request it again" in body["enrolment"]["error"]


def test_consents_are_revoked_and_persons_removed(client, sessions):
    person = add_person(sessions)
    upload = add_upload(sessions)
    add_verdict(sessions, upload, "block", person_id=person)
    assert client.post(f"/v1/persons/{person}/consents", headers=AUTH,
                       json={"uploader_id": "u1"}).status_code == 201
    revoked = client.delete(f"/v1/persons/{person}/consents/u1", headers=AUTH)
    assert revoked.status_code == 200
    assert client.delete(f"/v1/persons/{person}/consents/u1", headers=AUTH).status_code == 404
    detail = client.get(f"/v1/persons/{person}", headers=AUTH).json()
    assert detail["consents"] == []
    assert [(c["uploader_id"], c["revoked_at"] is not None)
            for c in detail["consent_history"]] == [("u1", True)]

    assert client.delete(f"/v1/persons/{person}", headers=AUTH).status_code == 204
    assert client.get(f"/v1/persons/{person}", headers=AUTH).status_code == 404
    assert client.delete(f"/v1/persons/{person}", headers=AUTH).status_code == 404
    with sessions() as session:
        assert session.scalar(select(FaceTrack.person_id)) is None  # the verdict stays
    assert _actions(sessions, person) == [("api", "consent_granted"),
                                          ("api", "consent_revoked"),
                                          ("api", "person_removed")]


def test_the_person_commands(cli_env, capsys, sessions):
    person = add_person(sessions, "Ann Example")
    code, out, _ = run_cli(capsys, "persons", "list")
    assert code == 0 and out.strip() == f"{person}\tAnn Example\t1 descriptors\tconsents -"
    assert run_cli(capsys, "persons", "consent", "Ann Example", "u7")[0] == 0
    assert run_cli(capsys, "persons", "consent", person, "u8")[0] == 0
    assert "consents u7,u8" in run_cli(capsys, "persons", "list")[1]
    assert run_cli(capsys, "persons", "revoke", "Ann Example", "u7")[0] == 0
    assert run_cli(capsys, "persons", "revoke", "Ann Example", "u7")[0] == 2  # not in force
    code, out, _ = run_cli(capsys, "persons", "show", "Ann Example")
    shown = json.loads(out)
    assert (shown["id"], len(shown["descriptors"])) == (person, 1)
    assert [(c["uploader_id"], c["revoked_at"] is None) for c in shown["consents"]] == [
        ("u7", False), ("u8", True)]
    assert run_cli(capsys, "persons", "show", "Nobody")[0] == 2
    assert run_cli(capsys, "persons", "remove", "Ann Example")[0] == 0
    assert run_cli(capsys, "persons", "list")[1] == ""
    with sessions() as session:
        assert session.scalar(select(ProtectedPerson.id)) is None
    actions = _actions(sessions, person)
    assert [a for _, a in actions] == ["consent_granted", "consent_granted", "consent_revoked",
                                       "person_removed"]
    assert all(actor.startswith("cli") for actor, _ in actions)


def test_enrolling_the_same_files_again_adds_their_inner_faces(sessions):
    """People enrolled before inner faces were described (migration 0005) are upgraded by
    enrolling the same files again: no new rows, the inner faces filled in, and the gallery
    then matches them by inner faces."""
    import numpy as np

    from moderation.db.persons import enroll
    from moderation.faces.identity import TrackRule
    from moderation.service import load_gallery

    whole = [0.1] * 128
    with sessions() as session, session.begin():
        enroll(session, "Ann Old", [Described("/videos/ann.jpg", whole, "digest-ann")], "test")
    with sessions() as session:
        gallery, _ = load_gallery(session, TrackRule())
        assert np.isnan(gallery.inner).all()
    inner = [0.2] * 128
    with sessions() as session, session.begin():
        person = enroll(session, "Ann Old",
                        [Described("/videos/ann.jpg", whole, "digest-ann", JPEG, inner)], "test")
        person_id = person.id
    with sessions() as session:
        rows = session.scalars(select(PersonDescriptor)
                               .where(PersonDescriptor.person_id == person_id)).all()
        assert len(rows) == 1 and rows[0].inner_vector == inner
        gallery, _ = load_gallery(session, TrackRule())
    faces = np.full((3, 128), 0.1, np.float32)
    match = gallery.match_track(faces, inner=np.full((3, 128), 0.2, np.float32))
    assert match.person_id == person_id and match.region == "inner" and match.context_agrees
