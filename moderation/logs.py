"""One logging configuration for the worker, the API and the CLI: ``configure_logging``.

Every record gets the fields of the work at hand, from context variables: ``upload_id``,
``task_id`` (and ``task``, ``alert_id``, ``enrolment_id`` where they apply) are set by the
worker's task base class, ``stage`` by :func:`log_stage` around each step of a task. The JSON
format writes one object a line with those fields (null when unset); the text format writes
them as ``key=value`` after the level.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from moderation.config import Settings

# Always present on a JSON line, so that a query for a field never meets a missing key.
FIELDS = ("upload_id", "task_id", "stage")

_context: ContextVar[Mapping[str, Any]] = ContextVar("log_context",
                                                    default=MappingProxyType({}))


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Adds ``fields`` to every record logged inside the block (in this thread or task)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def log_stage(stage: str):
    """``with log_stage("decode"): ...``: the records inside name the stage."""
    return log_context(stage=stage)


def current_context() -> Mapping[str, Any]:
    return _context.get()


class ContextFilter(logging.Filter):
    """Copies the context's fields onto each record (a field passed in ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        data = getattr(record, "data", None)
        if getattr(record, "task_id", None) is None and isinstance(data, dict) and "id" in data:
            # Celery's own lines about a task (received, succeeded, failed) outside its run.
            record.task_id = data["id"]
        for key in FIELDS:
            if not hasattr(record, key):
                setattr(record, key, None)
        return True


# LogRecord's own attributes: everything else on a record came from the context or ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = [f"{key}={getattr(record, key)}" for key in FIELDS
                  if getattr(record, key, None) is not None]
        record.context = (" [" + " ".join(fields) + "]") if fields else ""
        return super().format(record)


def resolve(settings: Settings, interactive: bool) -> tuple[str, str]:
    """(format, level): the settings', else JSON at INFO for a service, text at WARNING for an
    interactive command."""
    fmt = settings.log_format or ("text" if interactive else "json")
    level = settings.log_level or ("WARNING" if interactive else "INFO")
    return fmt, level.upper()


def make_handler(fmt: str, stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(settings: Settings, interactive: bool = False,
                      level: str | int | None = None) -> logging.Handler:
    """Put one handler on stderr, in the configured format, on the root logger (replacing the
    one an earlier call put there; handlers of others, pytest's say, stay); every other logger
    (Celery's, uvicorn's, ours) propagates to it. ``level`` overrides the settings' (the
    worker's ``-l``)."""
    fmt, default_level = resolve(settings, interactive)
    handler = make_handler(fmt)
    handler._moderation = True
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_moderation", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if level is not None else default_level)
    logging.captureWarnings(True)  # a warning is a line in the same format
    # Their own handlers would print each line a second time, in their own format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task",
                 "celery.redirected"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    return handler
