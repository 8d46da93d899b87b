"""Engines and sessions from the settings' database URL, and migrating a database to head."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _foreign_keys(connection, _record):  # SQLite leaves them off unless asked
            connection.execute("PRAGMA foreign_keys=ON")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url), expire_on_commit=False)


def migrations_folder() -> Path:
    """The Alembic scripts: the package ``moderation.migrations``, which is the top-level
    ``migrations/`` folder mapped into the package (pyproject.toml), so a wheel carries it.

    A checkout imported without being installed (on ``PYTHONPATH``) has no such package, or
    finds another checkout's through that one's editable install: it uses its own folder.
    """
    package = Path(__file__).resolve().parents[1]  # this copy of ``moderation``
    spec = importlib.util.find_spec("moderation.migrations")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))).resolve()
        if folder.parent in (package, package.parent):  # in a wheel, or beside it (editable)
            return folder
    return package.parent / "migrations"


def alembic_config(url: str) -> Config:
    """Alembic's configuration for ``url`` and the package's scripts (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_folder()))
    config.set_main_option("sqlalchemy.url", url)
    return config


def upgrade(url: str, revision: str = "head",
            on_step: Callable[[str], None] | None = None) -> None:
    """Run the Alembic migrations against ``url``; ``on_step`` is called with each revision
    once it is applied (``migrations/env.py`` passes it to Alembic)."""
    from alembic import command

    config = alembic_config(url)
    if on_step is not None:
        config.attributes["on_version_apply"] = (
            lambda *, step, **_: on_step(step.up_revision_id))
    command.upgrade(config, revision)


def pending_revisions(url: str, revision: str = "head") -> list[str]:
    """The revisions ``upgrade(url, revision)`` would apply, oldest first."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(url))
    with engine_for(url).connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return [step.revision
            for step in reversed(list(script.iterate_revisions(revision, current or "base")))]
