"""The documentation pages load nothing from elsewhere: every script, style and icon they name
is served by the app itself (headless Chromium renders them in tests/gate/test_browser.py)."""

from __future__ import annotations

import re

import pytest

ASSET = re.compile(r'(?:src|href)="([^"]+)"')


def page_assets(html: str) -> list[str]:
    return ASSET.findall(html)


@pytest.mark.parametrize("page, scripts", [
    ("/docs", ["/docs/assets/swagger-ui-bundle.js"]),
    ("/redoc", ["/docs/assets/redoc.standalone.js"]),
])
def test_the_docs_pages_name_only_local_assets_and_they_are_served(client, page, scripts):
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assert not re.search(r"https?://|//cdn|fonts\.googleapis", html), html
    assets = page_assets(html)
    assert set(scripts) <= set(assets)
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
        if url.endswith(".js"):
            assert asset.headers["content-type"].startswith("text/javascript")
        if url.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css")
    bundle = client.get(scripts[0]).text
    assert ("SwaggerUIBundle" if page == "/docs" else "Redoc") in bundle
    # The page's policy lets the browser load from this server only.
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "http" not in policy
    assert 'spec-url="/openapi.json"' in html or "url: '/openapi.json'" in html


def test_the_oauth2_redirect_page_and_the_schema_stay(client):
    assert client.get("/docs/oauth2-redirect").status_code == 200
    schema = client.get("/openapi.json").json()
    assert not any(path.startswith("/docs") or path == "/redoc" for path in schema["paths"])
    assert {"/healthz", "/readyz"} <= set(schema["paths"])
