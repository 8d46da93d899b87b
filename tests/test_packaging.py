"""The wheel holds everything the package reads at run time, migrations included: an install
that is not editable (the Docker image's) migrates a database with `moderation db upgrade`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "README.md", "moderation", "worker", "migrations"]


def _revisions(folder: Path) -> set[str]:
    return {path.name.split("_", 1)[0] for path in (folder / "versions").glob("[0-9]*_*.py")}


def test_pyproject_lists_every_package():
    """The packages are listed (``find`` cannot map migrations/ into the package): a folder of
    the package that is not listed would be left out of the wheel."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"moderation.migrations": "migrations"}
    found = set()
    for top in ("moderation", "worker"):
        for folder in [REPO / top, *(REPO / top).rglob("*")]:
            if folder.is_dir() and "__pycache__" not in folder.parts and any(
                    path.is_file() for path in folder.iterdir()):
                found.add(".".join(folder.relative_to(REPO).parts))
    found |= {"moderation.migrations", "moderation.migrations.versions"}
    assert sorted(found) == sorted(setuptools["packages"])


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from a copy of its sources and unpacked as site-packages are."""
    setuptools = pytest.importorskip("setuptools", reason="building the wheel needs setuptools")
    if tuple(int(part) for part in setuptools.__version__.split(".")[:2]) < (70, 1):
        pytest.skip(f"setuptools {setuptools.__version__} builds no wheel by itself (< 70.1)")
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.partial"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
                            "--no-build-isolation", "--quiet", str(source), "-w", str(root)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = root.glob("moderation-*.whl")
    site = root / "site-packages"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def test_the_wheel_carries_the_migrations_templates_and_weights(installed_wheel):
    package = installed_wheel / "moderation"
    migrations = package / "migrations"
    assert (migrations / "env.py").is_file() and (migrations / "script.py.mako").is_file()
    assert _revisions(migrations) == _revisions(REPO / "migrations") != set()
    for relative in ("gate/templates/review.html", "detector/weights/swap_detector.pt",
                     "learned/weights/occlusion.pt", "learned/weights/fusion.pt"):
        assert (package / relative).is_file(), relative
    assert not (installed_wheel / "migrations").exists()  # no top-level package of that name


def test_the_wheel_installs_both_commands(installed_wheel):
    """The compose file and the Dockerfile run ``moderation`` and ``moderation-worker``."""
    (entry_points,) = installed_wheel.glob("moderation-*.dist-info/entry_points.txt")
    text = entry_points.read_text()
    assert "moderation = moderation.cli:main" in text
    assert "moderation-worker = worker.cli:main" in text


def test_the_installed_package_finds_its_migrations_and_migrates(installed_wheel, tmp_path):
    """Run where the checkout is not importable, the installed package alone on the path."""
    probe = f"""
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from moderation.db.session import alembic_config, migrations_folder, upgrade
url = "sqlite:///{tmp_path / 'installed.db'}"
print(migrations_folder())
script = ScriptDirectory.from_config(alembic_config(url))
print(",".join(sorted(revision.revision for revision in script.walk_revisions())))
print(",".join(script.get_heads()))
upgrade(url)
with create_engine(url).connect() as connection:
    print(connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
"""
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(installed_wheel)})
    assert result.returncode == 0, result.stderr
    folder, revisions, heads, migrated = result.stdout.split()
    assert Path(folder) == installed_wheel / "moderation" / "migrations"
    expected = _revisions(REPO / "migrations")
    assert set(revisions.split(",")) == expected
    assert heads == migrated == max(expected)
