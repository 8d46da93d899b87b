"""The settings: the README's table is the one ``Settings`` generates, and a bad value is one
line naming the environment variable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from moderation.config import settings_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_lists_every_setting_as_settings_defines_it():
    text = README.read_text()
    copy = re.search(r"<!-- settings-table:start -->\n(.*?)<!-- settings-table:end -->", text,
                     re.S)
    assert copy is not None, "README.md lost its settings-table markers"
    assert copy.group(1) == settings_table(), (
        "README's settings table is stale: paste `python -m moderation.config` between the "
        "markers")


def test_every_setting_says_what_it_means():
    from moderation.config import Settings

    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_a_bad_setting_is_one_line_naming_the_variable():
    env = {**os.environ, "MODERATION_FRAMES_PER_VIDEO": "many",
           "MODERATION_NO_MATCH_ACTION": "shrug"}
    result = subprocess.run([sys.executable, "-m", "moderation", "db", "upgrade"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "MODERATION_FRAMES_PER_VIDEO='many'" in result.stderr
    assert "MODERATION_NO_MATCH_ACTION='shrug'" in result.stderr


def test_an_unreachable_database_is_one_line_naming_its_url_without_the_password():
    env = {**os.environ,
           "MODERATION_DATABASE_URL": "postgresql+psycopg2://mod:s3cret@127.0.0.1:1/nowhere"}
    result = subprocess.run([sys.executable, "-m", "moderation", "persons", "list"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "postgresql+psycopg2://mod:***@127.0.0.1:1/nowhere cannot be reached" in line
    assert "s3cret" not in result.stderr
