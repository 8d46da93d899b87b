"""The audit log, readable: GET /v1/audit with filters and paging, and the review UI's page."""

from __future__ import annotations

import re

from sqlalchemy import select

from moderation.db.models import AuditLog
from moderation.db.uploads import audit
from tests.gate.conftest import AUTH, TOKEN, add_person, add_reviewer, add_upload, add_verdict


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_reviews_rescans_and_consents_are_audited_with_the_acting_reviewer(client, sessions):
    token = add_reviewer(sessions, "rita")
    upload = add_upload(sessions)
    add_verdict(sessions, upload, "review")
    person = add_person(sessions)
    client.post(f"/v1/uploads/{upload}/review", headers=_bearer(token),
                json={"decision": "block", "note": "no consent"})
    client.post(f"/v1/uploads/{upload}/scan", headers=_bearer(token))
    client.post(f"/v1/persons/{person}/consents", headers=AUTH, json={"uploader_id": "u9"})

    page = client.get("/v1/audit", headers=AUTH).json()
    got = [(e["actor"], e["action"], e["upload_id"], e["person_id"]) for e in page["entries"]]
    assert got[:3] == [("api", "consent_granted", None, person),
                       ("rita", "rescan_requested", upload, None),
                       ("rita", "review_block", upload, None)]
    assert page["next_before"] is None

    by_upload = client.get("/v1/audit", headers=AUTH, params={"upload_id": upload}).json()
    assert {e["action"] for e in by_upload["entries"]} == {"review_block", "rescan_requested"}
    by_person = client.get("/v1/audit", headers=AUTH, params={"person_id": person}).json()
    assert [e["details"] for e in by_person["entries"]] == [{"uploader_id": "u9"}]
    by_actor = client.get("/v1/audit", headers=AUTH,
                          params={"actor": "rita", "action": "review_block"}).json()
    assert [e["details"]["note"] for e in by_actor["entries"]] == ["no consent"]
    assert client.get("/v1/audit").status_code == 401


def test_the_audit_log_pages_newest_first(client, sessions):
    with sessions() as session, session.begin():
        for index in range(7):
            audit(session, "ops", "test_entry", None, {"n": index})
    seen, before = [], None
    for _ in range(4):
        page = client.get("/v1/audit", headers=AUTH,
                          params={"limit": 3, **({"before": before} if before else {})}).json()
        seen += [e["details"]["n"] for e in page["entries"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1, 0] and before is None


def test_the_audit_page(client, sessions):
    token = add_reviewer(sessions, "rita")
    upload = add_upload(sessions)
    add_verdict(sessions, upload, "review")
    assert client.get("/review/audit").status_code == 401
    client.post("/review/login", data={"token": token})
    page = client.get("/review").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    client.post(f"/review/{upload}", data={"decision": "allow", "note": "<b>ok</b>",
                                           "csrf": csrf})
    with sessions() as session, session.begin():
        for index in range(3):
            audit(session, "ops", "test_entry", None, {"n": index})
    page = client.get("/review/audit").text
    assert 'href="/review/audit"' in page and "Signed in as <strong>rita</strong>" in page
    rows = re.findall(r'<tr data-audit-id="(\d+)" data-action="([a-z_]+)"', page)
    assert [action for _, action in rows][:4] == ["test_entry"] * 3 + ["review_allow"]
    assert "&lt;b&gt;ok&lt;/b&gt;" in page and "<b>ok</b>" not in page  # escaped
    filtered = client.get("/review/audit", params={"actor": "rita"}).text
    assert re.findall(r'data-action="([a-z_]+)"', filtered) == ["review_allow"]
    paged = client.get("/review/audit", params={"limit": 2}).text
    older = re.search(r'class="older" href="([^"]+)"', paged).group(1).replace("&amp;", "&")
    assert re.findall(r'data-action="([a-z_]+)"', client.get(older).text)[0] == "test_entry"
    with sessions() as session:
        assert session.scalar(select(AuditLog.actor).where(
            AuditLog.action == "review_allow")) == "rita"
    assert TOKEN not in page
