"""The API's documentation pages, Swagger UI (``/docs``) and ReDoc (``/redoc``), served with
their scripts and styles from this server: FastAPI's own pages load them from a CDN, so offline
(where this service runs) ``/docs`` was blank.

The files come with the ``fastapi-offline`` package (its ``static`` folder: Swagger UI's bundle
and CSS, ReDoc's standalone bundle, a favicon); only those files are used, not its app factory.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(str(files("fastapi_offline") / "static"))
ASSETS_URL = "/docs/assets"
SWAGGER_JS = f"{ASSETS_URL}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{ASSETS_URL}/swagger-ui.css"
REDOC_JS = f"{ASSETS_URL}/redoc.standalone.js"
FAVICON = f"{ASSETS_URL}/favicon.png"

# What a documentation page may load: its own server's files, and the inline script that
# starts Swagger UI or ReDoc (and the blob: workers ReDoc runs); nothing foreign.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "worker-src 'self' blob:; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def add_docs(app: FastAPI, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Serve the documentation pages on ``app``, which was built with ``docs_url=None`` and
    ``redoc_url=None`` (so that FastAPI adds no CDN pages of its own)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    def served(request: Request, url: str) -> str:
        return f"{request.scope.get('root_path', '')}{url}"

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=served(request, app.openapi_url), title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=served(request, oauth2_redirect_url)
            if oauth2_redirect_url else None,
            swagger_js_url=served(request, SWAGGER_JS),
            swagger_css_url=served(request, SWAGGER_CSS),
            swagger_favicon_url=served(request, FAVICON),
            swagger_ui_parameters=app.swagger_ui_parameters)
        page.headers.update(PAGE_HEADERS)
        return page

    if oauth2_redirect_url:
        @app.get(oauth2_redirect_url, include_in_schema=False)
        def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=served(request, app.openapi_url), title=f"{app.title} - ReDoc",
            redoc_js_url=served(request, REDOC_JS), redoc_favicon_url=served(request, FAVICON),
            with_google_fonts=False)
        page.headers.update(PAGE_HEADERS)
        return page
