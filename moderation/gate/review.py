"""The reviewers' pages: flagged uploads with evidence and score charts, Allow / Block forms."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from sqlalchemy import select

from moderation.db.audit import AuditFilter, audit_entries
from moderation.db.models import AuditLog, Evidence, ProtectedPerson
from moderation.db.uploads import record_review
from moderation.gate import queries
from moderation.gate.auth import (
    COOKIE_PATH,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Caller,
    bearer_token,
)
from moderation.gate.charts import flagged_range, score_chart
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
    env.globals["flagged_range"] = flagged_range
    env.filters["utc"] = lambda moment: moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Jinja2Templates(env=env)


def page(gate: Gate, request: Request, name: str, context: dict,
         status_code: int = 200) -> HTMLResponse:
    return gate.templates.TemplateResponse(request, name, context, status_code=status_code,
                                           headers=PAGE_HEADERS)


def login_page(gate: Gate, request: Request, message: str = "",
               status_code: int = status.HTTP_401_UNAUTHORIZED) -> HTMLResponse:
    nxt = request.url.path if request.method == "GET" and request.url.path != "/review/login" \
        else "/review"
    if request.method == "GET" and request.url.query and nxt != "/review/login":
        nxt += "?" + request.url.query
    return page(gate, request, "login.html", {"message": message, "next": _local(nxt)},
                status_code)


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the page: the actor, and the session's CSRF token (none for a script
    with a bearer token, which cannot submit the forms)."""

    actor: str
    csrf: str


def require_reviewer(request: Request, gate: Annotated[Gate, Depends(get_gate)]) -> Viewer:
    """The session cookie, or a bearer token (scripts). Never a token in the address: it
    would land in access logs, browser history and Referer headers."""
    signed_in = gate.review_sessions.lookup(request.cookies.get(SESSION_COOKIE))
    if signed_in is not None:
        return Viewer(signed_in.actor, signed_in.csrf)
    caller = gate.tokens.caller(bearer_token(request.headers.get("authorization")))
    if caller is not None:
        return Viewer(caller.actor, "")
    raise LoginRequired()


GateDep = Annotated[Gate, Depends(get_gate)]
ViewerDep = Annotated[Viewer, Depends(require_reviewer)]
router = APIRouter(prefix="/review", tags=["review"], include_in_schema=False)
reviewer_only = [Depends(require_reviewer)]


@router.get("/login")
def login_form(request: Request, gate: GateDep) -> HTMLResponse:
    return login_page(gate, request, status_code=status.HTTP_200_OK)


@router.post("/login")
def login(request: Request, gate: GateDep, token: Annotated[str, Form(max_length=500)] = "",
          next: Annotated[str, Form(max_length=2000)] = "/review") -> Response:
    client = request.client.host if request.client else "unknown"
    wait = gate.throttle.wait_s(client)
    if wait > 0:
        return login_page(gate, request, f"Too many wrong tokens: try again in {wait:.0f} s.",
                          status.HTTP_429_TOO_MANY_REQUESTS)
    caller = gate.tokens.caller(token.strip())
    if caller is None:
        gate.throttle.failed(client)
        return login_page(gate, request, "That token is not valid.")
    gate.throttle.succeeded(client)
    response = RedirectResponse(_local(next), status.HTTP_303_SEE_OTHER)
    _start_session(gate, request, response, caller)
    return response


@router.post("/logout")
def logout(request: Request, gate: GateDep) -> Response:
    gate.review_sessions.end(request.cookies.get(SESSION_COOKIE))  # the cookie is dead now
    response = RedirectResponse("/review/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


@router.get("")
def review_list(request: Request, gate: GateDep, viewer: ViewerDep,
                limit: Annotated[int, Query(ge=1, le=200)] = 50,
                show: Literal["todo", "decided"] = "todo") -> Response:
    """The to-do queue (flagged, not yet decided), or the decided uploads."""
    with gate.sessions() as session:
        items = queries.flagged_uploads(session, gate.thresholds, limit,
                                        decided=show == "decided")
    return page(gate, request, "review.html", {
        "items": items, "csrf": viewer.csrf, "limit": limit, "viewer": viewer, "tab": show,
        "identity_threshold": gate.settings.identity_threshold})


@router.get("/audit")
def audit_page(request: Request, gate: GateDep, viewer: ViewerDep,
               upload_id: Annotated[str | None, Query(max_length=36)] = None,
               person_id: Annotated[str | None, Query(max_length=36)] = None,
               actor: Annotated[str | None, Query(max_length=200)] = None,
               action: Annotated[str | None, Query(max_length=100)] = None,
               before: Annotated[int | None, Query(ge=1)] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
    where = AuditFilter(*(v.strip() if v else None
                          for v in (upload_id, person_id, actor, action)))
    with gate.sessions() as session:
        entries, next_before = audit_entries(session, where, limit, before)
        actions = session.scalars(select(AuditLog.action).distinct()
                                  .order_by(AuditLog.action)).all()
    older = urlencode([*where.items(), ("before", next_before)]) if next_before else ""
    return page(gate, request, "audit.html", {
        "entries": entries, "where": where, "next_before": next_before, "older": older,
        "actions": actions, "viewer": viewer, "tab": "audit"})


@router.get("/evidence/{evidence_id:int}.jpg", dependencies=reviewer_only)
def evidence_image(evidence_id: int, gate: GateDep) -> Response:
    with gate.sessions() as session:
        image = session.scalar(select(Evidence.image).where(Evidence.id == evidence_id))
    if image is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"evidence {evidence_id} does not exist")
    return Response(image, media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=86400, immutable",
                             "X-Content-Type-Options": "nosniff"})


@router.get("/persons/{person_id}.jpg", dependencies=reviewer_only)
def person_image(person_id: str, gate: GateDep) -> Response:
    """The protected person's reference face, shown beside a track that matches them."""
    with gate.sessions() as session:
        image = session.scalar(select(ProtectedPerson.reference_image)
                               .where(ProtectedPerson.id == person_id))
    if image is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"person {person_id} does not exist or has no reference image")
    return Response(image, media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=3600",
                             "X-Content-Type-Options": "nosniff"})


@router.post("/{upload_id}")
def review_submit(request: Request, upload_id: str, gate: GateDep, viewer: ViewerDep,
                  decision: Annotated[Literal["allow", "block"], Form()],
                  note: Annotated[str, Form(max_length=2000)] = "",
                  csrf: Annotated[str, Form()] = "") -> Response:
    # The acting reviewer is the session's: nobody types a name to act under.
    if not viewer.csrf or not secrets.compare_digest(viewer.csrf.encode(), csrf.encode()):
        return page(gate, request, "message.html", {
            "title": "Form expired", "message": "Reload the review page and try again."},
            status.HTTP_403_FORBIDDEN)
    with gate.sessions() as session, session.begin():
        record_review(session, upload_id, viewer.actor, decision, note.strip())
    return RedirectResponse(f"/review#upload-{upload_id}", status.HTTP_303_SEE_OTHER)


def _local(target: str) -> str:
    """Where to go after signing in: a review page, never another site."""
    if target.startswith("/review") and not target.startswith("//") and "\\" not in target:
        return target
    return "/review"


def _start_session(gate: Gate, request: Request, response: Response, caller: Caller) -> None:
    session_id, _ = gate.review_sessions.start(caller)
    response.set_cookie(SESSION_COOKIE, session_id, max_age=SESSION_SECONDS,
                        path=COOKIE_PATH, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
