"""The reviewers' pages: sign-in, the flagged list with thumbnails and score charts, and the
Allow / Block forms changing the gate's answer."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from moderation.db.models import AuditLog, Review
from moderation.gate.auth import SESSION_COOKIE
from moderation.gate.charts import score_chart
from tests.gate.conftest import AUTH, TOKEN, add_reviewer, add_upload, add_verdict


@pytest.fixture()
def flagged(sessions, detector_config, thumbnail):
    """Uploads of every kind; the review and block ones (and the reviewed one) are flagged."""
    ids = {}
    for name in ("allowed", "pending", "review", "block", "reviewed"):
        ids[name] = add_upload(sessions, source=f"/videos/{name}.mp4")
    add_verdict(sessions, ids["allowed"], "allow", detector_config.version,
                threshold=detector_config.threshold, score=0.1,
                thumbnail=thumbnail)
    add_verdict(sessions, ids["review"], "review", detector_config.version,
                threshold=detector_config.threshold, thumbnail=thumbnail)
    add_verdict(sessions, ids["block"], "block", "an-older-detector", thumbnail=thumbnail)
    add_verdict(sessions, ids["reviewed"], "allow", detector_config.version,
                threshold=detector_config.threshold, score=0.1)
    with sessions() as session, session.begin():
        session.add(Review(upload_id=ids["reviewed"], reviewer="rita", decision="block"))
    return ids


def _signed_in(client, token=TOKEN):
    response = client.post("/review/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/review"
    assert SESSION_COOKIE in client.cookies
    assert token not in client.cookies[SESSION_COOKIE]  # the cookie is derived, not the token
    return client


def _article(page: str, upload_id: str) -> str:
    match = re.search(rf'<article[^>]*id="upload-{upload_id}".*?</article>', page, re.S)
    assert match, f"upload {upload_id} is not on the page"
    return match.group(0)


def test_the_review_pages_need_the_token(client, flagged):
    for path in ("/review", "/review/evidence/1.jpg"):
        response = client.get(path)
        assert response.status_code == 401
        assert 'name="token"' in response.text and "/videos/" not in response.text


def test_a_token_in_the_address_does_not_log_in(client, flagged):
    response = client.get(f"/review?token={TOKEN}", follow_redirects=False)
    assert response.status_code == 401 and SESSION_COOKIE not in client.cookies
    assert "/videos/" not in response.text
    response = client.post(f"/review/{flagged['review']}", data={"decision": "allow",
                                                                  "reviewer": "x"})
    assert response.status_code == 401


def test_the_login_form(client, flagged, sessions):
    assert client.get("/review/login").status_code == 200
    assert client.post("/review/login", data={"token": "nope"}).status_code == 401
    token = add_reviewer(sessions, "Rita Ö")
    response = client.post("/review/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/review"
    page = client.get("/review").text
    assert "Signed in as <strong>Rita Ö</strong>" in page
    assert 'name="reviewer"' not in page  # nobody types a name to act under
    client.post("/review/logout")
    assert client.get("/review").status_code == 401


def test_the_list_shows_flagged_uploads_with_thumbnails_and_charts(client, flagged, sessions,
                                                                   detector_config, thumbnail):
    response = _signed_in(client).get("/review")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    shown = re.findall(r'<article[^>]*data-upload-id="([^"]+)"', page)
    # Newest first, only the flagged ones not decided yet.
    assert shown == [flagged["block"], flagged["review"]]

    review = _article(page, flagged["review"])
    assert 'data-gate="review"' in review and "/videos/review.mp4" in review
    assert "Stand-in reason for a review verdict." in review
    images = re.findall(r'<img src="(/review/evidence/\d+\.jpg)"', review)
    assert len(images) == 2
    image = client.get(images[0])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg" and image.content == thumbnail
    svg = re.search(r"<svg class=\"chart\".*?</svg>", review, re.S).group(0)
    points = re.search(r'<polyline class="scores" points="([^"]+)"', svg).group(1).split()
    assert len(points) == 5
    assert '<line class="threshold"' in svg
    assert f"threshold {detector_config.threshold:.3f}" in svg
    assert "1.0 s" in svg and "9.0 s" in svg
    for decision in ("allow", "block"):
        assert f'name="decision" value="{decision}"' in review
    assert f'action="/review/{flagged["review"]}"' in review

    # A verdict of another detector version: the chart has no threshold line.
    block = _article(page, flagged["block"])
    assert "<polyline" in block and '<line class="threshold"' not in block
    assert 'data-gate="block"' in _article(page, flagged["block"])
    decided = client.get("/review?show=decided").text
    assert re.findall(r'<article[^>]*data-upload-id="([^"]+)"', decided) == [flagged["reviewed"]]
    assert "rita → block" in _article(decided, flagged["reviewed"])


def test_allow_on_the_page_changes_the_gate(client, flagged, sessions):
    upload = flagged["review"]
    page = _signed_in(client, add_reviewer(sessions, "rita")).get("/review").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    assert client.get(f"/v1/uploads/{upload}/gate", headers=AUTH).json()["publish"] is False
    response = client.post(f"/review/{upload}", follow_redirects=False, data={
        "decision": "allow", "reviewer": "mallory", "note": "satire, labelled", "csrf": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == f"/review#upload-{upload}"
    gate = client.get(f"/v1/uploads/{upload}/gate", headers=AUTH).json()
    assert (gate["decision"], gate["publish"]) == ("allow", True)
    assert gate["reasons"][0]["code"] == "reviewer_override"
    with sessions() as session:
        log = session.scalars(select(AuditLog).where(AuditLog.upload_id == upload,
                                                     AuditLog.action == "review_allow")).all()
    assert [(entry.actor, entry.details["note"]) for entry in log] == [
        ("rita", "satire, labelled")]
    with sessions() as session:
        assert session.scalar(select(Review.reviewer).where(Review.upload_id == upload)) == \
            "rita"  # the session's reviewer, whatever name the form carried
    # Decided: it left the to-do queue for the decided list.
    assert f'data-upload-id="{upload}"' not in client.get("/review").text
    after = _article(client.get("/review?show=decided").text, upload)
    assert 'data-gate="allow"' in after and "rita → allow" in after


def test_forms_without_the_csrf_token_change_nothing(client, flagged, sessions):
    upload = flagged["review"]
    page = _signed_in(client).get("/review").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)
    forged = client.post(f"/review/{upload}", data={"decision": "allow"})
    assert forged.status_code == 403
    scripted = client.post(f"/review/{upload}", data={"decision": "allow", "csrf": ""},
                           headers=AUTH, cookies={SESSION_COOKIE: "gone"})
    assert scripted.status_code == 403  # a bearer token cannot submit the forms
    bad = client.post(f"/review/{upload}", data={"decision": "maybe", "csrf": csrf})
    assert bad.status_code == 422
    with sessions() as session:
        assert session.scalars(select(Review).where(Review.upload_id == upload)).all() == []


def test_nothing_to_review(client, sessions):
    page = _signed_in(client).get("/review").text
    assert "Nothing to review." in page


def test_the_chart_geometry():
    chart = score_chart([4.0, 0.0, 2.0], [0.999, 0.1, 0.5], 0.99, width=134, height=116)
    left, top, right, bottom = chart.plot
    assert (left, right, top, bottom) == (34, 130, 6, 100)
    # Sorted by time; x spans the plot; y rises with the score.
    xs = [x for x, _, _ in chart.dots]
    ys = [y for _, y, _ in chart.dots]
    assert xs == [34.0, 82.0, 130.0] and ys[0] > ys[1] > ys[2]
    assert [hot for _, _, hot in chart.dots] == [False, False, True]
    # The logit axis: 0.5 sits a third of the way up (0.01 .. 0.9999), and 0.99 and 0.999
    # are far apart, where a linear axis would put them one pixel apart.
    assert ys[1] == pytest.approx(100 - 94 * 4.595 / 13.81, abs=0.2)
    assert ys[0] - chart.threshold_y > 5
    labels = [label for _, label in chart.ticks]
    assert labels == ["0.01", "0.5", "0.9", "0.999"]  # 0.99 is the threshold's own mark
    assert chart.flagged == (130.0, 130.0)
    assert (chart.start, chart.end) == (0.0, 4.0)
    assert "1 at or above the threshold 0.990" in chart.label
    single = score_chart([3.0], [1.7], None, width=134, height=116)
    assert single.line == "82.0,6.0" and single.threshold_y is None  # centred, clipped
    assert [label for _, label in single.ticks] == ["0.01", "0.5", "0.9", "0.99", "0.999"]
    assert score_chart([], [], 0.5) is None


def _login(client):
    response = client.post("/review/login", data={"token": TOKEN}, follow_redirects=False)
    assert response.status_code == 303
    return client.cookies[SESSION_COOKIE]


def test_each_login_gets_its_own_session_and_logout_ends_it(client, flagged):
    first = _login(client)
    csrf_first = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/review").text)
    client.cookies.clear()
    second = _login(client)
    csrf_second = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/review").text)
    assert first != second and csrf_first.group(1) != csrf_second.group(1)
    assert TOKEN not in first and len(first) == 64
    client.post("/review/logout")
    # The ended session's cookie, replayed, gets nothing; the other session still works.
    assert client.get("/review", cookies={SESSION_COOKIE: second}).status_code == 401
    assert client.get("/review", cookies={SESSION_COOKIE: first}).status_code == 200


def test_one_sessions_csrf_token_does_not_pass_for_another(client, flagged, sessions):
    _login(client)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get("/review").text).group(1)
    client.cookies.clear()
    _login(client)
    response = client.post(f"/review/{flagged['review']}", data={
        "decision": "allow", "csrf": csrf})
    assert response.status_code == 403
    with sessions() as session:
        assert session.query(Review).filter(Review.upload_id == flagged["review"]).count() == 0


def test_logins_are_throttled_after_five_wrong_tokens(client):
    for _ in range(5):
        assert client.post("/review/login", data={"token": "guess"}).status_code == 401
    refused = client.post("/review/login", data={"token": TOKEN}, follow_redirects=False)
    assert refused.status_code == 429 and "Too many wrong tokens" in refused.text
    assert SESSION_COOKIE not in client.cookies


def test_a_matched_track_shows_the_reference_face_the_distance_and_the_flagged_strip(
        client, sessions, detector_config, thumbnail):
    from moderation.db.models import Evidence, FaceTrack, ProtectedPerson, Scan
    from tests.gate.conftest import add_person

    person = add_person(sessions, "Ann Example")
    with sessions() as session, session.begin():
        session.get(ProtectedPerson, person).reference_image = thumbnail
    upload = add_upload(sessions, source="/videos/ann.mp4")
    add_verdict(sessions, upload, "block", detector_config.version,
                threshold=detector_config.threshold, thumbnail=thumbnail,
                person_id=person)
    with sessions() as session, session.begin():  # one frame after the flagged range
        track = session.scalar(select(FaceTrack).join(Scan).where(Scan.upload_id == upload))
        session.add(Evidence(track_id=track.id, time_s=9.0, score=0.5, image=thumbnail))
    assert 0.5 < detector_config.threshold < 0.9  # the stand-in scores flag 3.0 to 7.0 s
    article = _article(_signed_in(client).get("/review").text, upload)
    reference = re.search(r'<figure class="reference" data-person-id="([^"]+)">(.*?)</figure>',
                          article, re.S)
    assert reference and reference.group(1) == person
    assert f'<img src="/review/persons/{person}.jpg"' in reference.group(2)
    assert 'class="distance">0.310<' in reference.group(2) and "match below" in reference.group(2)
    assert client.get(f"/review/persons/{person}.jpg").content == thumbnail
    # The strip: frames in time order, those inside the flagged range marked.
    frames = re.findall(r'<figure class="frame( in-range)?">\s*<img src="[^"]+" alt="frame at '
                        r'([\d.]+) s', article)
    assert [(bool(hot), time) for hot, time in frames] == [(True, "5.0"), (True, "7.0"),
                                                           (False, "9.0")]
    assert "Flagged 3.0–7.0 s" in article
    # The score axis is labelled, the threshold marked on it.
    svg = re.search(r"<svg class=\"chart\".*?</svg>", article, re.S).group(0)
    ticks = re.findall(r'<text class="tick"[^>]*>([\d.]+)</text>', svg)
    assert {"0.01", "0.99", "0.999"} <= set(ticks)
    assert ('<text class="threshold-label"' in svg
            and f">{detector_config.threshold:.3f}</text>" in svg)
    assert '<rect class="flagged"' in svg


def test_after_signing_in_the_page_asked_for_opens_and_never_another_site(client):
    for target, expected in (("/review/audit?actor=rita", "/review/audit?actor=rita"),
                             ("https://evil.example/", "/review"), ("//evil.example", "/review"),
                             ("/v1/audit", "/review")):
        response = client.post("/review/login", data={"token": TOKEN, "next": target},
                               follow_redirects=False)
        assert response.headers["location"] == expected, target
    # The login form carries the page that asked for it.
    client.cookies.clear()
    form = client.get("/review/audit", params={"actor": "rita"}).text
    assert 'name="next" value="/review/audit?actor=rita"' in form
