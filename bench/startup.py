"""Start-up time of the `moderation` and `moderation-worker` commands: wall time of quick
commands in fresh processes (median of --repeats), and whether each imported torch. The
interpreter alone and `import torch` are the floor and the cost to avoid. Run with
`.venv/bin/python bench/startup.py` (or `make bench-startup`); it times this checkout's code,
whatever is installed."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
# (label, the command's module, its arguments)
COMMANDS = [
    ("moderation --help", "moderation.cli", ["--help"]),
    ("moderation synth --list", "moderation.cli", ["synth", "--list"]),
    ("moderation db upgrade --help", "moderation.cli", ["db", "upgrade", "--help"]),
    ("moderation synth --count x (bad argument)", "moderation.cli", ["synth", "--count", "x"]),
    ("moderation-worker --help", "worker.cli", ["--help"]),
    ("moderation-worker scans --print", "worker.cli", ["scans", "--print"]),
]
FLOORS = [("python -c pass", "pass"), ("python -c 'import torch'", "import torch")]
HEAVY = ("torch", "retinaface", "facenet_pytorch")
# Runs the command's main as its console script would, then says which heavy modules it left.
PROBE = ("import importlib, sys\nmain = importlib.import_module(sys.argv[1]).main\ntry:\n"
         "    main(sys.argv[2:])\nexcept SystemExit:\n    pass\n"
         f"print(','.join(m for m in {HEAVY!r} if m in sys.modules) or '-', file=sys.stderr)")
console = Console()


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def wall_time(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def heavy_imports(module: str, arguments: list[str], env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-c", PROBE, module, *arguments], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    return result.stderr.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = environment()
    table = Table(title=f"Fresh processes, median of {args.repeats} "
                        f"({os.cpu_count()} cores, {sys.executable})")
    for column in ("command", "median s", "min s", "heavy modules imported"):
        table.add_column(column, justify="left" if column == "command" else "right")
    rows = [(label, [sys.executable, "-m", module, *arguments],
             heavy_imports(module, arguments, env)) for label, module, arguments in COMMANDS]
    rows += [(label, [sys.executable, "-c", code], "") for label, code in FLOORS]
    for label, command, heavy in rows:
        wall_time(command, env)  # a first run warms the file cache; it is not counted
        times = [wall_time(command, env) for _ in range(args.repeats)]
        table.add_row(label, f"{statistics.median(times):.2f}", f"{min(times):.2f}", heavy)
    console.print(table)
    console.print(first_score_table(env, args.repeats))
    return 0


# In a fresh process, after the imports: load the shipped detector and score one crop, with the
# frozen model's cache folder empty (trace and freeze, then keep it) and then holding it.
FIRST_SCORE = ("import sys, time\nimport numpy as np\nfrom pathlib import Path\n"
               "from moderation.detector.inference import SwapDetector\n"
               "start = time.perf_counter()\n"
               "SwapDetector.load(cache_dir=Path(sys.argv[1])).score_crops("
               "[np.zeros((160, 160, 3), np.uint8)])\n"
               "print(time.perf_counter() - start)")


def first_score_table(env: dict[str, str], repeats: int) -> Table:
    import tempfile

    table = Table(title="Detector: load and score one crop in a fresh process, after imports "
                        f"(median of {repeats})")
    for column in ("frozen model", "median s", "min s"):
        table.add_column(column, justify="left" if column == "frozen model" else "right")
    cold, warm = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            for times in (cold, warm):
                out = subprocess.run([sys.executable, "-c", FIRST_SCORE, cache], cwd=ROOT,
                                     env=env, capture_output=True, text=True, check=True)
                times.append(float(out.stdout.split()[-1]))
    for label, times in (("traced and frozen (first process)", cold),
                         ("read from the cache (next processes)", warm)):
        table.add_row(label, f"{statistics.median(times):.2f}", f"{min(times):.2f}")
    return table


if __name__ == "__main__":
    sys.exit(main())
