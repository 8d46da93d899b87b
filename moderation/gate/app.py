"""The HTTP service: ``create_app(settings)`` builds the FastAPI application.

- ``/v1/...``: the JSON API (bearer token: the service's or a reviewer's): uploads, the
  publish gate, reviews, persons, the audit log.
- ``/review``: the reviewers' pages (a session cookie, started by POSTing a token).
- ``/docs``, ``/redoc``: the API's documentation, its assets served locally (``gate.docs``);
  ``/openapi.json``: FastAPI's.
- ``/healthz``: the process answers; ``/readyz``: it can serve (``gate.health``).
- ``/metrics``: Prometheus metrics, without a token (``gate.metrics``).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from moderation.config import Settings
from moderation.db.persons import UnknownPerson
from moderation.db.uploads import UnknownUpload
from moderation.errors import ModerationError
from moderation.gate import api, docs, health, metrics, review
from moderation.gate.auth import ReviewSessions, Tokens
from moderation.gate.context import Gate
from moderation.gate.limits import BodyLimit
from moderation.gate.queue import ENROL_TASK, Enqueue, celery_enqueue
from moderation.gate.thresholds import DetectorThresholds
from moderation.service import Moderation

log = logging.getLogger(__name__)


def create_app(settings: Settings, enqueue: Enqueue | None = None,
               enqueue_enrolment: Enqueue | None = None) -> FastAPI:
    """``enqueue(upload_id)`` sends a scan to the workers, ``enqueue_enrolment(enrolment_id)``
    an enrolment; by default the Celery tasks ``worker.tasks.scan_upload`` and
    ``worker.tasks.enroll_person`` on ``settings.broker_url``."""
    app = FastAPI(title="Face-swap moderation gate", version="1",
                  description="Register uploads, ask the publish gate, review flagged videos "
                  "and protect persons. Every /v1 route needs `Authorization: Bearer <token>`.",
                  # Added by docs.add_docs with local assets: FastAPI's load them from a CDN.
                  docs_url=None, redoc_url=None)
    service = Moderation(settings)
    app.state.gate = Gate(settings=settings, service=service,
                          enqueue=celery_enqueue(settings) if enqueue is None else enqueue,
                          enqueue_enrolment=celery_enqueue(settings, ENROL_TASK)
                          if enqueue_enrolment is None else enqueue_enrolment,
                          tokens=Tokens(settings.api_token, service.sessions),
                          review_sessions=ReviewSessions(service.sessions),
                          thresholds=DetectorThresholds(),
                          templates=review.make_templates())
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    # Outermost: a request BodyLimit refuses is counted too.
    app.state.metrics = app.state.gate.metrics
    app.add_middleware(metrics.RequestMetrics, metrics=app.state.metrics)
    app.state.readiness = health.Readiness.from_settings(settings, service.sessions)
    app.include_router(api.router)
    app.include_router(review.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    docs.add_docs(app)
    _error_handlers(app)
    return app


def _error_handlers(app: FastAPI) -> None:
    def detail(code: int, message: str) -> JSONResponse:
        return JSONResponse({"detail": message}, status_code=code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Where and what, never the input: a 10 MB body was echoed whole, and NaN in it made
        # the echo itself fail (500).
        errors = [{"loc": list(error.get("loc", ())), "msg": error.get("msg", "invalid"),
                   "type": error.get("type", "value_error")} for error in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(UnknownUpload)
    async def unknown_upload(_request: Request, exc: UnknownUpload) -> JSONResponse:
        return detail(status.HTTP_404_NOT_FOUND, str(exc))

    @app.exception_handler(UnknownPerson)
    async def unknown_person(_request: Request, exc: UnknownPerson) -> JSONResponse:
        return detail(status.HTTP_404_NOT_FOUND, str(exc))

    @app.exception_handler(ModerationError)
    async def moderation_error(_request: Request, exc: ModerationError) -> JSONResponse:
        return detail(status.HTTP_400_BAD_REQUEST, str(exc))

    @app.exception_handler(IntegrityError)
    async def conflict(_request: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", exc.orig)
        return detail(status.HTTP_409_CONFLICT, "the request conflicts with existing data")

    @app.exception_handler(review.LoginRequired)
    async def login_required(request: Request, exc: review.LoginRequired):
        return review.login_page(request.app.state.gate, request, exc.message)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # Logged with its traceback by the server; the client learns nothing about internals.
        return detail(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal server error")
