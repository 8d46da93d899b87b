"""Liveness and readiness: ``/healthz`` says the process answers; ``/readyz`` says it can serve
its routes now.

Ready means: the database's schema is at the Alembic head the code expects (an unmigrated
database answered every route with 500 while ``/healthz`` said ok), the broker takes a
connection (scans are queued there), and the detector's checkpoint exists and its config reads
(without torch or its tensors: no model is loaded in a request). Each failing check is named
with the reason; URLs are shown without their passwords.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from moderation.config import Settings

router = APIRouter(tags=["service"])

Check = Callable[[], dict]


class NotReady(Exception):
    """A check failed; the message says why, for an operator."""


def shown_url(url: str) -> str:
    """A database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: show none of it
        return "(an unparsable URL)"


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig  # the driver's message, without SQLAlchemy's SQL and links
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def expected_heads() -> set[str]:
    """The head revisions of the migrations shipped with the code (the scripts
    ``moderation db upgrade`` runs)."""
    from alembic.script import ScriptDirectory

    from moderation.db.session import alembic_config

    return set(ScriptDirectory.from_config(alembic_config("")).get_heads())


def schema_check(sessions: sessionmaker[Session], url: str, heads: set[str]) -> Check:
    def check() -> dict:
        from alembic.migration import MigrationContext

        shown = shown_url(url)
        try:
            with sessions() as session:
                current = set(MigrationContext.configure(session.connection())
                              .get_current_heads())
        except Exception as exc:
            raise NotReady(f"cannot query the database at {shown}: {_first_line(exc)}") from exc
        expected = ", ".join(sorted(heads))
        if current != heads:
            found = (f"is at revision {', '.join(sorted(current))}" if current
                     else "has no schema (no Alembic revision)")
            raise NotReady(f"the database at {shown} {found}; this code needs {expected}: "
                           "run `moderation db upgrade`")
        return {"url": shown, "revision": expected}

    return check


def broker_check(broker_url: str, timeout_s: float) -> Check:
    def check() -> dict:
        from kombu import Connection

        with Connection(broker_url, connect_timeout=timeout_s) as connection:
            shown = connection.as_uri()  # the password masked
            try:
                # One try, no retry interval: the broker answers now or the check fails.
                connection.ensure_connection(max_retries=0)
            except Exception as exc:
                raise NotReady(f"cannot connect to the broker at {shown}: "
                               f"{_first_line(exc)}") from exc
        return {"url": shown}

    return check


def detector_check(checkpoint: Path | None) -> Check:
    def check() -> dict:
        from moderation.detector.checkpoint import DEFAULT_CHECKPOINT, read_config
        from moderation.errors import ModerationError

        path = Path(checkpoint or DEFAULT_CHECKPOINT)
        try:
            config = read_config(path)
        except ModerationError as exc:
            raise NotReady(str(exc)) from exc
        return {"checkpoint": str(path), "version": config.version,
                "threshold": config.threshold}

    return check


class Readiness:
    """Runs the checks concurrently, each in a daemon thread, and waits ``timeout_s`` for them.
    A check that has not answered is reported as failing and keeps its thread: the next report
    waits for that same run instead of starting another, so a hung database or broker holds
    one thread per check, however often ``/readyz`` is asked."""

    def __init__(self, checks: dict[str, Check], timeout_s: float):
        self.checks = checks
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._running: dict[str, tuple[Future, float]] = {}

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session]) -> Readiness:
        return cls({"schema": schema_check(sessions, settings.resolved_database_url,
                                           expected_heads()),
                    "broker": broker_check(settings.broker_url, settings.readiness_timeout_s),
                    "detector": detector_check(settings.detector_checkpoint)},
                   settings.readiness_timeout_s)

    def report(self) -> dict:
        """``{"ready": bool, "failing": [names], "checks": {name: {"ok": bool, ...}}}``; a
        failing check has an ``error``."""
        started = {name: self._start(name, check) for name, check in self.checks.items()}
        deadline = time.monotonic() + self.timeout_s
        checks = {}
        for name, (future, since) in started.items():
            try:
                checks[name] = {"ok": True,
                                **future.result(max(0.0, deadline - time.monotonic()))}
            except FutureTimeout:
                checks[name] = {"ok": False, "error": f"no answer after "
                                f"{time.monotonic() - since:.1f} s (still waiting)"}
            except NotReady as exc:
                checks[name] = {"ok": False, "error": str(exc)}
            except Exception as exc:  # a check's own bug: still a reason to say not ready
                checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {_first_line(exc)}"}
        failing = [name for name, result in checks.items() if not result["ok"]]
        return {"ready": not failing, "failing": failing, "checks": checks}

    def _start(self, name: str, check: Check) -> tuple[Future, float]:
        with self._lock:
            running = self._running.get(name)
            if running is not None and not running[0].done():
                return running
            future: Future = Future()
            entry = self._running[name] = (future, time.monotonic())

        def run() -> None:
            future.set_running_or_notify_cancel()
            try:
                future.set_result(check())
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=run, name=f"readyz-{name}", daemon=True).start()
        return entry


@router.get("/healthz")
def health() -> dict:
    """Alive: the process answers. Says nothing of the database or the broker (``/readyz``)."""
    return {"ok": True}


@router.get("/readyz", responses={503: {"description": "Not ready: the failing checks and why"}})
def ready(request: Request) -> JSONResponse:
    """200 when the schema is at the migrations' head, the broker takes a connection and the
    detector's checkpoint reads; otherwise 503 naming each failing check and why."""
    report = request.app.state.readiness.report()
    return JSONResponse(report, status_code=200 if report["ready"] else 503)
