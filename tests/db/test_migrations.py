"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from moderation.db.models import Base


def test_models_and_migrations_agree(postgres_url):
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert differences == []
    assert {"uploads", "scans", "verdicts", "face_tracks", "evidence", "protected_persons",
            "consents", "reviews", "audit_log", "alerts", "alembic_version"} <= tables


def test_sqlite_migrates_too(tmp_path):
    from moderation.db.session import upgrade

    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    engine = create_engine(url)
    assert "verdicts" in inspect(engine).get_table_names()
    engine.dispose()


def test_the_latest_revisions_downgrade_and_upgrade_again(tmp_path):
    from alembic import command

    from moderation.db.session import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'round-trip.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "0002")
    engine = create_engine(url)
    assert "reviewers" not in inspect(engine).get_table_names()
    assert "person_id" not in {c["name"] for c in inspect(engine).get_columns("audit_log")}
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    assert {"reviewers", "reviewer_sessions"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_db_upgrade_migrates_without_loading_the_detector(tmp_path):
    """`moderation db upgrade` (the compose migration job) needs no torch: it once built the
    whole service, detector included, to run Alembic."""
    import os
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    probe = ("import sys, runpy; sys.argv = ['moderation', 'db', 'upgrade']\n"
             "try:\n    runpy.run_module('moderation', run_name='__main__')\n"
             "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
             "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env={**os.environ, "MODERATION_DATABASE_URL": url}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert "alembic_version" in inspect(create_engine(url)).get_table_names()


def test_alembic_finds_every_revision_through_the_package(tmp_path):
    """The scripts are the package ``moderation.migrations`` (here, this checkout's migrations/;
    tests/test_packaging.py checks an installed wheel's), and Alembic reads every revision."""
    from pathlib import Path

    from alembic.script import ScriptDirectory

    from moderation.db.session import alembic_config, migrations_folder

    checkout = Path(__file__).resolve().parents[2] / "migrations"
    assert migrations_folder() == checkout
    script = ScriptDirectory.from_config(alembic_config(f"sqlite:///{tmp_path / 'x.db'}"))
    files = {path.name.split("_", 1)[0] for path in (checkout / "versions").glob("[0-9]*_*.py")}
    assert {revision.revision for revision in script.walk_revisions()} == files
    assert script.get_heads() == [max(files)]


def test_db_upgrade_shows_a_bar_over_the_revisions_it_applies(tmp_path):
    """`moderation db upgrade` counts the revisions still to apply on stderr (0006 backfills
    every verdict: on a large database it takes a while), and applies only those."""
    import os
    import subprocess
    import sys

    from alembic import command

    from moderation.db.session import alembic_config, pending_revisions, upgrade

    url = f"sqlite:///{tmp_path / 'behind.db'}"
    revisions = _revision_files()
    assert pending_revisions(url) == revisions
    upgrade(url)
    command.downgrade(alembic_config(url), revisions[-3])
    assert pending_revisions(url) == revisions[-2:]

    def moderation_db_upgrade() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "moderation", "db", "upgrade"],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "MODERATION_DATABASE_URL": url})

    result = moderation_db_upgrade()
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    final = result.stderr.replace("\r", "\n").splitlines()
    assert any(line.startswith("migrate: 100%") and "2/2" in line for line in final), final
    assert f"applied {revisions[-2]}, {revisions[-1]}" in final[-1]
    assert pending_revisions(url) == []
    again = moderation_db_upgrade()  # nothing to apply: no bar
    assert again.returncode == 0 and "migrate:" not in again.stderr
    assert "it was there already" in again.stderr


def test_upgrade_reports_each_revision_as_it_is_applied(tmp_path):
    from moderation.db.session import upgrade

    url = f"sqlite:///{tmp_path / 'steps.db'}"
    revisions = _revision_files()
    steps: list[str] = []
    upgrade(url, revisions[2], on_step=steps.append)
    assert steps == revisions[:3]
    upgrade(url, on_step=steps.append)
    assert steps == revisions


def _revision_files() -> list[str]:
    from pathlib import Path

    versions = Path(__file__).resolve().parents[2] / "migrations" / "versions"
    return sorted(path.name.split("_", 1)[0] for path in versions.glob("[0-9]*_*.py"))
