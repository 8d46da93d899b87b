"""Shared fixtures: real faces from ../shared and scikit-image's astronaut, an isolated cache;
the test lanes that follow from the fixtures a test uses."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from moderation.config import get_settings

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MODERATION_SHARED_DIR", REPO.parent / "shared"))
LFW = SHARED / "data" / "faces" / "lfw"
# A few LFW people, each a sub-folder (some with several photos).
LFW_PEOPLE = ["Aaron_Eckhart", "Aaron_Peirsol", "Abdullah_Gul", "Adam_Sandler", "Adrien_Brody",
              "Al_Gore", "Alan_Greenspan", "Albert_Costa"]

# A test that uses one of these fixtures (directly or through another) is in the marker's lane:
# it needs a server, or the data of ../shared. Tests that reach either without them carry the
# marker themselves; `slow` is always written by hand (pyproject.toml lists the markers).
LANE_FIXTURES = {
    "services": {"postgres_url", "broker", "private_postgres"},
    "shared": {"lfw_subset", "videos"},
}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by the markers
def pytest_collection_modifyitems(items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in LANE_FIXTURES.items():
            if used & fixtures:
                item.add_marker(marker)


@pytest.fixture(autouse=True, scope="session")
def isolated_cache(tmp_path_factory):
    """Landmark caches go to a temporary folder shared by the whole test session."""
    cache = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("MODERATION_CACHE_DIR")
    os.environ["MODERATION_CACHE_DIR"] = str(cache)
    get_settings.cache_clear()
    yield cache
    if previous is None:
        os.environ.pop("MODERATION_CACHE_DIR", None)
    else:
        os.environ["MODERATION_CACHE_DIR"] = previous
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """Eileen Collins' portrait bundled with scikit-image, as BGR."""
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def lfw_subset(tmp_path_factory) -> Path:
    """A small LFW-shaped folder: links to a few people's folders in ../shared, read in place."""
    if not LFW.is_dir():
        pytest.skip(f"{LFW} is absent: the real faces of ../shared are needed")
    root = tmp_path_factory.mktemp("lfw")
    for person in LFW_PEOPLE:
        (root / person).symlink_to(LFW / person, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def astronaut_folder(tmp_path_factory, astronaut) -> Path:
    root = tmp_path_factory.mktemp("astronaut")
    cv2.imwrite(str(root / "astronaut.png"), astronaut)
    return root


# --- The moderation database: a real PostgreSQL, one fresh database per test session. ---

POSTGRES_ADMIN = os.environ.get("MODERATION_TEST_POSTGRES",
                                "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def postgres_url():
    """A new database migrated to head by Alembic; dropped at the end of the session."""
    import uuid

    from sqlalchemy import create_engine, text

    from moderation.db.session import upgrade

    name = f"moderation_test_{uuid.uuid4().hex[:8]}"
    # pre-ping: a test may restart the server, which kills pooled connections.
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    from moderation.db.session import engine_for

    engine_for(url).dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture()
def sessions(postgres_url):
    """A session factory on the test database, emptied after each test."""
    from sqlalchemy import text

    from moderation.db.models import Base
    from moderation.db.session import session_factory

    factory = session_factory(postgres_url)
    yield factory
    with factory() as session, session.begin():
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        session.execute(text(f"TRUNCATE {tables} CASCADE"))
