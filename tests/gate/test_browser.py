"""The review page served by uvicorn over real HTTP, and rendered by headless Chromium when
Debian's chromium is installed (``apt-get install chromium``)."""

from __future__ import annotations

import logging
import re
import subprocess
from pathlib import Path

import httpx
import pytest
import uvicorn

from moderation.db.models import ProtectedPerson
from moderation.db.uploads import audit
from moderation.gate.app import create_app
from tests.gate.conftest import TOKEN, add_person, add_upload, add_verdict, served

CHROMIUM = Path("/usr/bin/chromium")


class AccessLog(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture()
def access_log() -> AccessLog:
    return AccessLog()


@pytest.fixture()
def live_server(settings, queue, sessions, access_log):
    """The app on a free localhost port, served by uvicorn in a background thread, its access
    log (uvicorn's own, as a deployment writes it) captured in ``access_log``."""
    config = uvicorn.Config(create_app(settings, enqueue=queue), log_level="info",
                            access_log=True, lifespan="off")
    logger = logging.getLogger("uvicorn.access")
    logger.addHandler(access_log)
    try:
        with served(config) as url:
            yield url
    finally:
        logger.removeHandler(access_log)


@pytest.fixture()
def flagged_upload(sessions, detector_config, thumbnail):
    upload = add_upload(sessions, source="/videos/flagged-in-browser.mp4")
    add_verdict(sessions, upload, "review", detector_config.version,
                threshold=detector_config.threshold, thumbnail=thumbnail)
    return upload


@pytest.fixture()
def matched_upload(sessions, detector_config, thumbnail):
    """A block: the swapped face matches a protected person with a reference image."""
    person = add_person(sessions, "Ann Example")
    with sessions() as session, session.begin():
        session.get(ProtectedPerson, person).reference_image = thumbnail
    upload = add_upload(sessions, source="/videos/ann-swapped.mp4")
    add_verdict(sessions, upload, "block", detector_config.version,
                threshold=detector_config.threshold, thumbnail=thumbnail,
                person_id=person)
    return upload, person


def test_the_review_page_over_http(live_server, flagged_upload, access_log):
    with httpx.Client(base_url=live_server, timeout=10) as client:
        response = client.post("/review/login", data={"token": TOKEN}, follow_redirects=True)
        assert response.status_code == 200
        assert str(response.url) == f"{live_server}/review"
        assert f'data-upload-id="{flagged_upload}"' in response.text
        image = re.search(r'<img src="([^"]+)"', response.text).group(1)
        assert client.get(image).headers["content-type"] == "image/jpeg"
        assert client.get("/v1/persons", headers={"Authorization": f"Bearer {TOKEN}"}
                          ).status_code == 200
    # Every request made it to the access log, and no line of it holds the token.
    assert any("POST /review/login" in line for line in access_log.lines), access_log.lines
    assert any("GET /review " in line or 'GET /review HTTP' in line
               for line in access_log.lines), access_log.lines
    assert not [line for line in access_log.lines if TOKEN in line]


def _login_page(tmp_path: Path, live_server: str, then: str = "/review") -> str:
    """A local page that signs in by POSTing the login form, as a reviewer does: Chromium
    follows the redirect to the review list with the session cookie."""
    page = tmp_path / "sign-in.html"
    page.write_text(
        f'<!doctype html><body onload="document.forms[0].submit()">'
        f'<form method="post" action="{live_server}/review/login">'
        f'<input name="token" value="{TOKEN}"><input name="next" value="{then}"></form>')
    return page.as_uri()


def _signed_in_profile(tmp_path: Path, live_server: str, access_log) -> Path:
    """A Chromium profile holding a review session: signed in by POSTing the login form (a
    busy machine sometimes ends the first run before the form's redirect, so up to 3 tries)."""
    profile = tmp_path / "profile"
    for _ in range(3):
        _chromium("--dump-dom", _login_page(tmp_path, live_server), profile=profile)
        if any('"POST /review/login HTTP/1.1" 303' in line for line in access_log.lines):
            return profile
    raise AssertionError(f"Chromium did not sign in: {access_log.lines}")


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
         f"--user-data-dir={profile}", "--window-size=1280,900",
         "--virtual-time-budget=5000", *args],
        capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason=f"{CHROMIUM} is missing: install Debian's chromium package to render "
                    "the review page in a real browser")
def test_chromium_renders_the_review_page(live_server, flagged_upload, tmp_path, access_log):
    profile = _signed_in_profile(tmp_path, live_server, access_log)
    dom = _chromium("--dump-dom", f"{live_server}/review", profile=profile)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert f'data-upload-id="{flagged_upload}"' in page
    assert "/videos/flagged-in-browser.mp4" in page
    assert re.search(r'<button[^>]*value="allow"[^>]*>Allow</button>', page)
    assert re.search(r'<button[^>]*value="block"[^>]*>Block</button>', page)
    assert re.search(r'<svg[^>]*class="chart"', page) and "<polyline" in page
    assert 'class="threshold"' in page

    screenshot = tmp_path / "review.png"
    served = len(access_log.lines)
    shot = _chromium(f"--screenshot={screenshot}", f"{live_server}/review", profile=profile)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.is_file() and screenshot.stat().st_size > 1000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any('"GET /review HTTP/1.1" 200' in line for line in access_log.lines[served:]), \
        access_log.lines[served:]
    assert not [line for line in access_log.lines if TOKEN in line]



@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
def test_chromium_shows_the_reference_face_the_strip_and_the_axis(
        live_server, matched_upload, tmp_path, access_log):
    upload, person = matched_upload
    profile = _signed_in_profile(tmp_path, live_server, access_log)
    dom = _chromium("--dump-dom", f"{live_server}/review", profile=profile)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert f'data-upload-id="{upload}"' in page
    assert f'data-person-id="{person}"' in page and 'class="distance">0.310<' in page
    assert re.search(r'<figure class="frame in-range">', page) and "Flagged 3.0–7.0 s" in page
    assert '<text class="threshold-label"' in page and '<text class="tick"' in page
    # The browser fetched the reference face itself (an image the CSP let through).
    assert any(f"GET /review/persons/{person}.jpg HTTP/1.1\" 200" in line
               for line in access_log.lines), access_log.lines
    assert not [line for line in access_log.lines if TOKEN in line]


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
def test_chromium_renders_the_audit_page(live_server, sessions, tmp_path, access_log):
    with sessions() as session, session.begin():
        audit(session, "rita", "review_allow", None, {"note": "<i>satire</i>"})
        audit(session, "cli:ops", "person_removed", None, {"name": "Ann"}, person_id="p" * 36)
    profile = _signed_in_profile(tmp_path, live_server, access_log)
    dom = _chromium("--dump-dom", f"{live_server}/review/audit", profile=profile)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert re.findall(r'data-action="([a-z_]+)"', page) == ["person_removed", "review_allow"]
    assert "&lt;i&gt;satire&lt;/i&gt;" in page and "<i>satire</i>" not in page
    assert 'aria-current="page">Audit log' in page and "Signed in as <strong>api</strong>" in page


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
@pytest.mark.parametrize("page, asset", [("/docs", "/docs/assets/swagger-ui-bundle.js"),
                                         ("/redoc", "/docs/assets/redoc.standalone.js")])
def test_chromium_renders_the_api_docs_from_local_assets(live_server, tmp_path, access_log,
                                                         page, asset):
    """Without a network: the page shows the API's title only if its script came from here."""
    dom = _chromium("--dump-dom", f"{live_server}{page}", profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = dom.stdout
    assert re.search(r"<h[12][^>]*>Face-swap moderation gate", rendered), rendered[-2000:]
    if page == "/docs":
        assert 'data-path="/v1/uploads/{upload_id}/gate"' in rendered
    assert any(f'"GET {asset} HTTP/1.1" 200' in line for line in access_log.lines), \
        access_log.lines
    assert any('"GET /openapi.json HTTP/1.1" 200' in line for line in access_log.lines)
