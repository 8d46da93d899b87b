"""The JSON API on a real PostgreSQL: auth, uploads and the queue, the gate through a verdict and
a review override, persons and consents, errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from moderation.config import Settings
from moderation.db.models import AuditLog, Consent, Upload
from moderation.errors import ModerationError
from moderation.gate.app import create_app
from tests.gate.conftest import AUTH, TOKEN, add_person, add_upload, add_verdict

MISSING = "00000000-0000-0000-0000-000000000000"
ROUTES = [("GET", "/v1/uploads/{id}/gate", None), ("GET", "/v1/uploads/{id}", None),
          ("POST", "/v1/uploads", {"source": "/videos/v.mp4", "uploader_id": "u"}),
          ("POST", "/v1/uploads/{id}/review", {"decision": "allow", "reviewer": "r"}),
          ("POST", "/v1/uploads/{id}/scan", None), ("GET", "/v1/persons", None),
          ("POST", "/v1/persons", {"name": "n", "sources": ["/a.jpg"]}),
          ("POST", "/v1/persons/{id}/consents", {"uploader_id": "u"}),
          ("GET", "/v1/persons/{id}", None), ("DELETE", "/v1/persons/{id}", None),
          ("DELETE", "/v1/persons/{id}/consents/u", None), ("GET", "/v1/enrolments/{id}", None),
          ("GET", "/v1/audit", None)]


def _audit(sessions, upload_id=None):
    with sessions() as session:
        query = select(AuditLog).order_by(AuditLog.id)
        if upload_id is not None:
            query = query.where(AuditLog.upload_id == upload_id)
        return list(session.scalars(query))


@pytest.mark.parametrize("method,path,body", ROUTES)
def test_every_v1_route_needs_the_token(client, sessions, queue, method, path, body):
    upload = add_upload(sessions)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": TOKEN}, {"Authorization": f"Bearer {TOKEN}x"}):
        response = client.request(method, path.format(id=upload), json=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert "token" in response.json()["detail"]
    assert queue.sent == [] and len(_audit(sessions)) == 0


def test_the_token_lets_requests_in(client):
    assert client.get("/v1/persons", headers=AUTH).status_code == 200
    assert client.get("/v1/persons", headers={"Authorization": f"bearer  {TOKEN}"}
                      ).status_code == 200


def test_without_a_configured_token_nothing_gets_in(postgres_url, sessions):
    app = create_app(Settings(database_url=postgres_url, api_token=""), enqueue=lambda _: None)
    with TestClient(app) as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer x"}):
            assert client.get("/v1/persons", headers=headers).status_code == 401
        assert client.post("/review/login", data={"token": ""}).status_code in (401, 422)


def test_registering_an_upload_queues_its_scan_after_commit(client, sessions, queue):
    response = client.post("/v1/uploads", headers=AUTH,
                           json={"source": " /videos/a.mp4 ", "uploader_id": "u1"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {"id": body["id"], "status": "pending", "queued": True}
    assert response.headers["location"] == f"/v1/uploads/{body['id']}"
    assert queue.sent == [body["id"]]
    assert queue.committed == [True]  # the worker can see the row the moment it gets the task
    with sessions() as session:
        upload = session.get(Upload, body["id"])
        assert (upload.source, upload.uploader_id, upload.status) == (
            "/videos/a.mp4", "u1", "pending")
    assert [a.action for a in _audit(sessions, body["id"])] == ["upload_registered"]


def test_an_unreachable_queue_leaves_the_upload_pending_and_can_be_retried(settings, sessions):
    attempts = []

    def flaky_broker(upload_id):
        attempts.append(upload_id)
        if len(attempts) == 1:
            raise ConnectionError("broker down")

    with TestClient(create_app(settings, enqueue=flaky_broker)) as client:
        response = client.post("/v1/uploads", headers=AUTH,
                               json={"source": "/videos/a.mp4", "uploader_id": "u1"})
        assert response.status_code == 201
        upload = response.json()["id"]
        assert response.json()["queued"] is False
        assert client.get(f"/v1/uploads/{upload}/gate", headers=AUTH).json()["publish"] is False
        retry = client.post(f"/v1/uploads/{upload}/scan", headers=AUTH)
        assert retry.status_code == 202
        assert retry.json() == {"id": upload, "status": "pending", "queued": True}
    assert attempts == [upload, upload]
    failed = [a for a in _audit(sessions, upload) if a.action == "enqueue_failed"]
    assert len(failed) == 1 and "broker down" in failed[0].details["error"]


def test_the_gate_from_pending_to_verdict_to_review_override(client, sessions):
    upload = client.post("/v1/uploads", headers=AUTH,
                         json={"source": "/videos/a.mp4", "uploader_id": "u1"}).json()["id"]
    gate = client.get(f"/v1/uploads/{upload}/gate", headers=AUTH)
    assert gate.status_code == 200
    assert gate.json()["decision"] == "pending"
    assert gate.json()["publish"] is False  # pending fails closed
    assert gate.json()["reasons"][0]["code"] == "scan_pending"

    verdict = add_verdict(sessions, upload, "review")
    gate = client.get(f"/v1/uploads/{upload}/gate", headers=AUTH).json()
    assert (gate["decision"], gate["publish"]) == ("review", False)
    assert gate["reasons"][0]["code"] == "swap_detected"

    response = client.post(f"/v1/uploads/{upload}/review", headers=AUTH,
                           json={"decision": "allow", "reviewer": "rita", "note": "parody"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["decision"], answer["publish"]) == ("allow", True)
    assert answer["reasons"][0]["code"] == "reviewer_override"
    assert answer["reasons"][0]["reviewer"] == "rita"
    assert "parody" in answer["reasons"][0]["message"]
    assert client.get(f"/v1/uploads/{upload}/gate", headers=AUTH).json()["decision"] == "allow"
    review_log = [a for a in _audit(sessions, upload) if a.action == "review_allow"]
    assert len(review_log) == 1
    assert review_log[0].actor == "rita"
    assert review_log[0].details == {"verdict": verdict, "was": "review", "note": "parody"}

    # A later scan's verdict makes the override stale: it answers until reviewed again.
    add_verdict(sessions, upload, "block", "v-test-2", score=0.9999)
    gate = client.get(f"/v1/uploads/{upload}/gate", headers=AUTH).json()
    assert (gate["decision"], gate["publish"]) == ("block", False)


def test_pending_may_be_configured_to_publish(postgres_url, sessions):
    settings = Settings(database_url=postgres_url, api_token=TOKEN, pending_allows=True)
    upload = add_upload(sessions)
    with TestClient(create_app(settings, enqueue=lambda _: None)) as client:
        gate = client.get(f"/v1/uploads/{upload}/gate", headers=AUTH).json()
    assert (gate["decision"], gate["publish"]) == ("pending", True)


def test_upload_detail_for_reviewers_tools(client, sessions, detector_config, thumbnail):
    person = add_person(sessions)
    upload = add_upload(sessions, uploader="u7")
    verdict = add_verdict(sessions, upload, "block", detector_config.version,
                          threshold=detector_config.threshold,
                          thumbnail=thumbnail, person_id=person)
    client.post(f"/v1/uploads/{upload}/review", headers=AUTH,
                json={"decision": "block", "reviewer": "rita"})
    detail = client.get(f"/v1/uploads/{upload}", headers=AUTH)
    assert detail.status_code == 200
    body = detail.json()
    assert (body["id"], body["uploader_id"], body["status"]) == (upload, "u7", "done")
    assert body["gate"]["decision"] == "block" and body["gate"]["publish"] is False
    assert body["verdict"]["id"] == verdict
    assert body["verdict"]["threshold"] == pytest.approx(detector_config.threshold)
    [track] = body["tracks"]
    assert (track["start"], track["end"], track["score"]) == (1.0, 9.0, 0.999)
    assert track["person"] == {"id": person, "name": "Ann Example", "image": None}
    assert track["times"] == [1.0, 3.0, 5.0, 7.0, 9.0] and len(track["scores"]) == 5
    assert [e["time"] for e in track["evidence"]] == [5.0, 7.0]
    assert [r["reviewer"] for r in body["reviews"]] == ["rita"]
    image = client.get(track["evidence"][0]["url"], headers=AUTH)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg" and image.content == thumbnail


def test_an_unscanned_upload_has_no_verdict_or_tracks(client, sessions):
    upload = add_upload(sessions)
    body = client.get(f"/v1/uploads/{upload}", headers=AUTH).json()
    assert body["status"] == "pending" and body["verdict"] is None
    assert body["tracks"] == [] and body["reviews"] == []


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/v1/uploads/{id}/gate", None), ("GET", "/v1/uploads/{id}", None),
    ("POST", "/v1/uploads/{id}/review", {"decision": "allow", "reviewer": "r"}),
    ("POST", "/v1/uploads/{id}/scan", None),
    ("POST", "/v1/persons/{id}/consents", {"uploader_id": "u"}),
    ("GET", "/v1/persons/{id}", None), ("DELETE", "/v1/persons/{id}", None),
    ("DELETE", "/v1/persons/{id}/consents/u", None), ("GET", "/v1/enrolments/{id}", None),
    ("GET", "/review/evidence/987654.jpg", None), ("GET", "/review/persons/{id}.jpg", None)])
def test_unknown_ids_are_404(client, sessions, queue, method, path, body):
    response = client.request(method, path.format(id=MISSING), json=body, headers=AUTH)
    assert response.status_code == 404
    assert "does not exist" in response.json()["detail"]
    assert queue.sent == [] and _audit(sessions) == []


@pytest.mark.parametrize("path,body,field", [
    ("/v1/uploads", {"uploader_id": "u"}, "source"),
    ("/v1/uploads", {"source": "videos/relative.mp4", "uploader_id": "u"}, "source"),
    ("/v1/uploads", {"source": "/v.mp4", "uploader_id": "   "}, "uploader_id"),
    ("/v1/uploads", {"source": "/v.mp4", "uploader_id": "u" * 201}, "uploader_id"),
    ("/v1/uploads", {"source": "/v.mp4", "uploader_id": "u", "extra": 1}, "extra"),
    ("/v1/uploads/{id}/review", {"decision": "maybe", "reviewer": "r"}, "decision"),
    ("/v1/uploads/{id}/review", {"decision": "allow", "reviewer": " "}, "reviewer"),
    ("/v1/persons", {"name": "n", "sources": []}, "sources"),
    ("/v1/persons/{id}/consents", {}, "uploader_id")])
def test_invalid_bodies_are_422_naming_the_field(client, sessions, queue, path, body, field):
    upload = add_upload(sessions)
    response = client.post(path.format(id=upload), json=body, headers=AUTH)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(error["loc"][-1] == field for error in errors), errors
    assert all(error["msg"] for error in errors)
    assert queue.sent == []


def test_a_body_that_is_not_json_is_422(client):
    response = client.post("/v1/uploads", content=b"{not json", headers={
        **AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422


def test_consents_and_the_person_list(client, sessions):
    person = add_person(sessions)
    for _ in range(2):  # granting twice keeps one consent
        response = client.post(f"/v1/persons/{person}/consents", headers=AUTH,
                               json={"uploader_id": "u9"})
        assert response.status_code == 201
        assert response.json() == {"person_id": person, "uploader_id": "u9"}
    with sessions() as session:
        assert session.scalars(select(Consent.uploader_id)).all() == ["u9"]
    persons = client.get("/v1/persons", headers=AUTH).json()
    assert [(p["id"], p["name"], p["descriptors"], p["consents"]) for p in persons] == [
        (person, "Ann Example", 1, ["u9"])]
    assert [a.action for a in _audit(sessions)] == ["consent_granted"] * 2


def test_moderation_errors_are_400_and_surprises_are_500_without_internals(settings):
    app = create_app(settings, enqueue=lambda _: None)

    @app.get("/v1/boom/moderation")
    def moderation_boom():
        raise ModerationError("that video cannot be used: too long")

    @app.get("/v1/boom/bug")
    def bug():
        raise RuntimeError("secret internals at /srv/app.py line 3")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/boom/moderation", headers=AUTH)
        assert response.status_code == 400
        assert response.json() == {"detail": "that video cannot be used: too long"}
        response = client.get("/v1/boom/bug", headers=AUTH)
        assert response.status_code == 500
        assert response.json() == {"detail": "internal server error"}
        assert "secret" not in response.text and "Traceback" not in response.text


def test_openapi_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    assert {"/v1/uploads", "/v1/uploads/{upload_id}/gate", "/v1/uploads/{upload_id}",
            "/v1/uploads/{upload_id}/review", "/v1/persons",
            "/v1/persons/{person_id}/consents", "/v1/persons/{person_id}",
            "/v1/persons/{person_id}/consents/{uploader_id}", "/v1/enrolments/{enrolment_id}",
            "/v1/audit"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert not any(path.startswith("/review") for path in schema["paths"])
    assert client.get("/docs").status_code == 200
    assert client.get("/healthz").json() == {"ok": True}
