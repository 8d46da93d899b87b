"""moderation.logs: one line a record, in JSON or text, with the context's fields."""

from __future__ import annotations

import io
import json
import logging

from moderation.config import Settings
from moderation.logs import log_context, log_stage, make_handler, resolve


def emit(fmt: str) -> str:
    stream = io.StringIO()
    logger = logging.getLogger("tests.logs")
    handler = make_handler(fmt, stream)
    logger.addHandler(handler)
    try:
        with log_context(upload_id="u1", task_id="t1"), log_stage("decode"):
            logger.warning("slow %s", "frame")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_json_lines_carry_the_context_and_null_outside_it():
    inside, outside = (json.loads(line) for line in emit("json").splitlines())
    assert inside["message"] == "slow frame" and inside["level"] == "WARNING"
    assert (inside["upload_id"], inside["task_id"], inside["stage"]) == ("u1", "t1", "decode")
    assert (outside["upload_id"], outside["task_id"], outside["stage"]) == (None, None, None)


def test_text_lines_name_the_context():
    inside, outside = emit("text").splitlines()
    assert "[upload_id=u1 task_id=t1 stage=decode]: slow frame" in inside
    assert outside.endswith("tests.logs: outside")


def test_services_log_json_and_commands_text_unless_set():
    assert resolve(Settings(), interactive=False) == ("json", "INFO")
    assert resolve(Settings(), interactive=True) == ("text", "WARNING")
    assert resolve(Settings(log_format="text", log_level="debug"), False) == ("text", "DEBUG")
