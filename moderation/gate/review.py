"""The reviewers' pages: flagged uploads with evidence and score charts, Allow / Block forms."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, unquote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy import select

from moderation.db.models import Evidence
from moderation.db.uploads import record_review
from moderation.gate import queries
from moderation.gate.auth import (
    COOKIE_PATH,
    REVIEWER_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    bearer_token,
)
from moderation.gate.charts import score_chart
from moderation.gate.context import Gate, get_gate

TEMPLATES = Path(__file__).parent / "templates"
# No Referer leaves the pages; they load nothing foreign.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message


def make_templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["score_chart"] = score_chart
    env.filters["utc"] = lambda moment: moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Jinja2Templates(env=env)


def page(gate: Gate, request: Request, name: str, context: dict,
         status_code: int = 200) -> HTMLResponse:
    return gate.templates.TemplateResponse(request, name, context, status_code=status_code,
                                           headers=PAGE_HEADERS)


def login_page(gate: Gate, request: Request, message: str = "",
               status_code: int = status.HTTP_401_UNAUTHORIZED) -> HTMLResponse:
    return page(gate, request, "login.html",
                {"message": message, "reviewer": _reviewer(request)},
                status_code)


def require_reviewer(request: Request, gate: Annotated[Gate, Depends(get_gate)]) -> None:
    """The session cookie, or the bearer token (scripts). Never a token in the address: it
    would land in access logs, browser history and Referer headers."""
    if gate.review_sessions.valid(request.cookies.get(SESSION_COOKIE)):
        return
    if gate.tokens.valid(bearer_token(request.headers.get("authorization"))):
        return
    raise LoginRequired()


GateDep = Annotated[Gate, Depends(get_gate)]
router = APIRouter(prefix="/review", tags=["review"], include_in_schema=False)
reviewer_only = [Depends(require_reviewer)]


@router.get("/login")
def login_form(request: Request, gate: GateDep) -> HTMLResponse:
    return login_page(gate, request, status_code=status.HTTP_200_OK)


@router.post("/login")
def login(request: Request, gate: GateDep, token: Annotated[str, Form()] = "",
          reviewer: Annotated[str, Form(max_length=200)] = "",
          next: Annotated[str, Form(max_length=2000)] = "/review") -> Response:
    client = request.client.host if request.client else "unknown"
    wait = gate.throttle.wait_s(client)
    if wait > 0:
        return login_page(gate, request, f"Too many wrong tokens: try again in {wait:.0f} s.",
                          status.HTTP_429_TOO_MANY_REQUESTS)
    if not gate.tokens.valid(token):
        gate.throttle.failed(client)
        return login_page(gate, request, "That token is not valid.")
    gate.throttle.succeeded(client)
    response = RedirectResponse(_local(next), status.HTTP_303_SEE_OTHER)
    _start_session(gate, request, response, reviewer.strip())
    return response


@router.post("/logout")
def logout(request: Request, gate: GateDep) -> Response:
    gate.review_sessions.end(request.cookies.get(SESSION_COOKIE))  # the cookie is dead now
    response = RedirectResponse("/review/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


@router.get("", dependencies=reviewer_only)
def review_list(request: Request, gate: GateDep,
                limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Response:
    with gate.sessions() as session:
        items = queries.flagged_uploads(session, gate.thresholds, limit)
    csrf = gate.review_sessions.csrf(request.cookies.get(SESSION_COOKIE)) or ""
    return page(gate, request, "review.html", {
        "items": items, "csrf": csrf, "limit": limit, "reviewer": _reviewer(request)})


@router.get("/evidence/{evidence_id:int}.jpg", dependencies=reviewer_only)
def evidence_image(evidence_id: int, gate: GateDep) -> Response:
    with gate.sessions() as session:
        image = session.scalar(select(Evidence.image).where(Evidence.id == evidence_id))
    if image is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"evidence {evidence_id} does not exist")
    return Response(image, media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=86400, immutable",
                             "X-Content-Type-Options": "nosniff"})


@router.post("/{upload_id}", dependencies=reviewer_only)
def review_submit(request: Request, upload_id: str, gate: GateDep,
                  decision: Annotated[Literal["allow", "block"], Form()],
                  reviewer: Annotated[str, Form(max_length=200)] = "",
                  note: Annotated[str, Form(max_length=2000)] = "",
                  csrf: Annotated[str, Form()] = "") -> Response:
    if not gate.review_sessions.valid_csrf(request.cookies.get(SESSION_COOKIE), csrf):
        return page(gate, request, "message.html", {
            "title": "Form expired", "message": "Reload the review page and try again."},
            status.HTTP_403_FORBIDDEN)
    if not reviewer.strip():
        return page(gate, request, "message.html", {
            "title": "Who is reviewing?",
            "message": "Give your name as reviewer: decisions are recorded in the audit log."},
            status.HTTP_400_BAD_REQUEST)
    with gate.sessions() as session, session.begin():
        record_review(session, upload_id, reviewer.strip(), decision, note.strip())
    response = RedirectResponse(f"/review#upload-{upload_id}", status.HTTP_303_SEE_OTHER)
    _remember_reviewer(request, response, reviewer.strip())
    return response


def _local(target: str) -> str:
    """Where to go after signing in: a review page, never another site."""
    if target.startswith("/review") and not target.startswith("//") and "\\" not in target:
        return target
    return "/review"


def _start_session(gate: Gate, request: Request, response: Response, reviewer: str) -> None:
    session_id, _ = gate.review_sessions.start()
    response.set_cookie(SESSION_COOKIE, session_id, max_age=SESSION_SECONDS,
                        path=COOKIE_PATH, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    if reviewer:
        _remember_reviewer(request, response, reviewer)


def _remember_reviewer(request: Request, response: Response, reviewer: str) -> None:
    response.set_cookie(REVIEWER_COOKIE, quote(reviewer), max_age=30 * 86400, path=COOKIE_PATH,
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")


def _reviewer(request: Request) -> str:
    return unquote(request.cookies.get(REVIEWER_COOKIE, ""))
