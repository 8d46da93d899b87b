"""Reviewers with tokens of their own: the CLI that issues and revokes them, the API and the
review page acting under the token's owner, and sessions kept in the database."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from moderation.db.models import AuditLog, Review, Reviewer, ReviewerSession, now
from moderation.gate.app import create_app
from moderation.gate.auth import SESSION_COOKIE
from tests.gate.conftest import AUTH, add_reviewer, add_upload, add_verdict, run_cli


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_the_cli_adds_lists_and_revokes_reviewers(cli_env, capsys, client, sessions):
    code, out, err = run_cli(capsys, "reviewers", "add", "Rita Ö")
    assert code == 0 and "shown only now" in err
    token = out.strip()
    assert token.startswith("mrv_") and len(token) > 40
    assert run_cli(capsys, "reviewers", "add", "Rita Ö")[0] == 2  # one token per name
    assert run_cli(capsys, "reviewers", "add", "api")[0] == 2  # the service token's name
    # Only the token's SHA-256 is stored: no column of any row holds the token itself.
    with sessions() as session:
        dump = session.execute(text("SELECT row_to_json(r)::text FROM reviewers r")).scalars()
        assert all(token not in row for row in dump)
    code, out, _ = run_cli(capsys, "reviewers", "list")
    assert code == 0 and re.search(r"^Rita Ö\tadded .*\tactive$", out, re.M)

    assert client.get("/v1/persons", headers=_bearer(token)).status_code == 200
    client.post("/review/login", data={"token": token})
    assert client.get("/review").status_code == 200

    code, _, err = run_cli(capsys, "reviewers", "revoke", "Rita Ö")
    assert code == 0 and "sessions ended" in err
    assert client.get("/v1/persons", headers=_bearer(token)).status_code == 401
    assert client.get("/review").status_code == 401  # the open session ended with the token
    assert client.post("/review/login", data={"token": token}).status_code == 401
    assert "revoked" in run_cli(capsys, "reviewers", "list")[1]
    assert run_cli(capsys, "reviewers", "revoke", "nobody")[0] == 2
    with sessions() as session:
        actions = session.execute(select(AuditLog.action, AuditLog.actor,
                                         AuditLog.details["reviewer"].as_string())
                                  .order_by(AuditLog.id)).all()
    assert [(a, r) for a, _, r in actions] == [("reviewer_added", "Rita Ö"),
                                               ("reviewer_revoked", "Rita Ö")]
    assert all(actor.startswith("cli") for _, actor, _ in actions)


def test_a_reviewers_token_reviews_under_their_name(client, sessions):
    token = add_reviewer(sessions, "rita")
    upload = add_upload(sessions)
    add_verdict(sessions, upload, "review")
    response = client.post(f"/v1/uploads/{upload}/review", headers=_bearer(token),
                           json={"decision": "block", "note": "no consent"})
    assert response.status_code == 200, response.text
    assert response.json()["reasons"][0]["reviewer"] == "rita"
    impostor = client.post(f"/v1/uploads/{upload}/review", headers=_bearer(token),
                           json={"decision": "allow", "reviewer": "sam"})
    assert impostor.status_code == 403
    # The service token acts as `api`, or records the name a platform relays.
    client.post(f"/v1/uploads/{upload}/review", headers=AUTH, json={"decision": "allow"})
    client.post(f"/v1/uploads/{upload}/review", headers=AUTH,
                json={"decision": "allow", "reviewer": "platform-staff-7"})
    with sessions() as session:
        names = session.scalars(select(Review.reviewer).order_by(Review.id)).all()
    assert names == ["rita", "api", "platform-staff-7"]


def test_sessions_are_shared_by_server_processes(settings, queue, sessions):
    token = add_reviewer(sessions, "rita")
    first, second = (TestClient(create_app(settings, enqueue=queue)) for _ in range(2))
    with first, second:
        first.post("/review/login", data={"token": token})
        cookie = first.cookies[SESSION_COOKIE]
        second.cookies.set(SESSION_COOKIE, cookie, path="/review")
        page = second.get("/review")
        assert page.status_code == 200 and "Signed in as <strong>rita</strong>" in page.text
        second.post("/review/logout")  # logging out in one process ends it in the other
        assert first.get("/review").status_code == 401
    with sessions() as session:
        stored = session.scalars(select(ReviewerSession.id_hash)).all()
    assert stored and cookie not in stored  # kept hashed


def test_sessions_expire(client, sessions, app):
    token = add_reviewer(sessions, "rita")
    client.post("/review/login", data={"token": token})
    assert client.get("/review").status_code == 200
    app.state.gate.review_sessions.clock = lambda: now() + timedelta(hours=13)
    assert client.get("/review").status_code == 401


def test_a_revoked_reviewers_token_no_longer_logs_in(client, sessions):
    from moderation.db.reviewers import revoke_reviewer

    token = add_reviewer(sessions, "rita")
    with sessions() as session, session.begin():
        revoke_reviewer(session, "rita", "test")
        assert session.scalar(select(Reviewer.revoked_at)) is not None
    assert client.post("/review/login", data={"token": token}).status_code == 401
