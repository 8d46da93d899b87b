"""The `moderation` command's quick paths load no torch: help, argument errors, listings."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from moderation.synth.registry import PLUGINS, registered_ops

HEAVY = ("torch", "torchvision", "retinaface", "facenet_pytorch")
# The CLI's main in a fresh interpreter, then the heavy modules it left in sys.modules.
PROBE = f"""
import sys
from moderation.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(repr((code, sorted(m for m in {HEAVY!r} if m in sys.modules))), file=sys.stderr)
"""


def run_cli(*args: str) -> tuple[int, list[str], str]:
    """(exit code, heavy modules imported, stdout) of ``moderation ARGS`` in a fresh process."""
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    code, heavy = ast.literal_eval(result.stderr.strip().splitlines()[-1])
    return code, heavy, result.stdout


@pytest.mark.parametrize("args", [("--help",), ("synth", "--help"), ("db", "upgrade", "--help"),
                                  ("synth", "--count", "x"), ("nonsense",), ("faces",)],
                         ids=" ".join)
def test_help_and_argument_errors_import_no_torch(args):
    code, heavy, _ = run_cli(*args)
    assert code == (0 if "--help" in args else 2)
    assert heavy == []


@pytest.mark.parametrize("args", [("--help",), ("scans", "alerts", "--print"), ("gpu",)],
                         ids=" ".join)
def test_the_worker_command_answers_without_torch(args):
    """``moderation-worker --help``, ``--print`` and a wrong role import neither torch nor the
    tasks: only starting a worker does."""
    probe = PROBE.replace("from moderation.cli import main", "from worker.cli import main")
    probe = probe.replace(f"{HEAVY!r}", f"{(*HEAVY, 'worker.tasks')!r}")
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                            text=True, timeout=120)
    code, heavy = ast.literal_eval(result.stderr.strip().splitlines()[-1])
    assert code == (2 if "gpu" in args else 0)
    assert heavy == []


def test_synth_list_imports_no_torch_and_names_every_operation():
    code, heavy, stdout = run_cli("synth", "--list")
    assert code == 0 and heavy == []
    lines = stdout.splitlines()
    assert lines == [f"{op.step}\t{op.name}" for op in registered_ops()]  # plug-ins imported
    for key in PLUGINS:
        assert key.replace("/", "\t") in lines
    assert "fusion\tlearned" in lines
