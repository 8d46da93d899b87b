"""The layers of docs/architecture.md, held against every module's imports (those inside
functions too, read with ``ast``): upload -> frames -> faces -> scores -> identities -> policy
-> verdict, each arrow one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The pipeline and everything below it: no database, no queue, no HTTP.
BELOW_PIPELINE = ("detector", "faces", "video", "synth", "policy", "pipeline")
# Never reach up to the edges that serve them.
NOT_THE_EDGES = ("db", "policy", "pipeline", "detector", "faces", "video", "synth", "training")
EDGES = ("moderation.gate", "worker")
FRAMEWORKS = ("sqlalchemy", "celery", "fastapi", "kombu", "starlette", "alembic")
# The database stores what it is given: it neither analyses nor decides. It takes its records
# from ``moderation.records`` (plain data classes, no behaviour).
NOT_FROM_DB = ("moderation.pipeline", "moderation.detector", "moderation.faces",
               "moderation.policy", "moderation.enrolment", "moderation.service")


def _layer(path: Path) -> str:
    """``db`` for moderation/db/scans.py, ``pipeline`` for moderation/pipeline.py."""
    parts = path.relative_to(ROOT / "moderation").with_suffix("").parts
    return parts[0]


def _modules() -> list[Path]:
    return sorted((ROOT / "moderation").rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, wherever in the file the import stands."""
    tree = ast.parse(path.read_text(), str(path))
    inside = path.is_relative_to(ROOT)
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1]) if inside else ""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the module's package
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _hits(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))


def _violations(layers: tuple[str, ...], forbidden: tuple[str, ...],
                allowed: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in _modules():
        if _layer(path) in layers:
            found += [f"{path.relative_to(ROOT)} imports {name}"
                      for name in _hits(imported(path), forbidden)
                      if not _hits({name}, allowed)]
    return found


def test_the_reader_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from sqlalchemy.orm import Session\n")
    assert "sqlalchemy.orm" in imported(module) and "os" in imported(module)


def test_every_layer_is_known():
    """A new top-level module or package must be placed in docs/architecture.md (and here)."""
    known = {*BELOW_PIPELINE, *NOT_THE_EDGES, "gate", "learned", "records", "enrolment",
             "service", "cli", "config", "errors", "images", "sources", "weights", "alerts", "logs",
             "__init__", "__main__"}
    assert sorted({_layer(p) for p in _modules()} - known) == []


@pytest.mark.parametrize("rule,layers,forbidden", [
    ("no layer below the edges imports the gate or the worker", NOT_THE_EDGES, EDGES),
    ("nothing below the pipeline knows SQL, Celery or HTTP", BELOW_PIPELINE, FRAMEWORKS),
    ("the database layer neither analyses nor decides", ("db",), NOT_FROM_DB),
    ("the pipeline stores nothing", BELOW_PIPELINE, ("moderation.db", "moderation.service")),
    ("records are plain data", ("records",), FRAMEWORKS + ("moderation.db",)),
])
def test_layers(rule, layers, forbidden):
    assert _violations(layers, forbidden) == [], rule


def test_enrolment_knows_no_database():
    assert _violations(("enrolment",), FRAMEWORKS + ("moderation.db",)) == []


def test_the_gate_never_loads_a_model():
    # The readiness check reads the checkpoint's config, which needs no torch
    # (checkpoint.read_config; tests/detector checks that in a fresh process).
    assert _violations(("gate",), ("torch", "moderation.detector", "moderation.pipeline",
                                   "moderation.faces.scan"),
                       allowed=("moderation.detector.checkpoint",)) == []
