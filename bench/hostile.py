"""Hostile uploads through the embedded scan (SQLite, the real detector): for each class of
crafted input, how the scans ended, how long they took and the peak memory of the process that
ran them (one child process per class, so the figures do not mix).

    .venv/bin/python bench/hostile.py [--per-class 8] [--classes ffconcat,tiny]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import SHARED  # noqa: E402
from tests.video import hostile  # noqa: E402
from tests.video.conftest import encode  # noqa: E402

VIDEOS = SHARED / "data" / "videos"
REAL = VIDEOS / "real_hamilton_640x360.mp4"


def _tiny(folder: Path, count: int) -> list[Path]:
    sizes = [(1, 1), (17, 4001), (2, 4096), (4096, 2), (31, 31), (8, 600), (600, 8), (3, 3)]
    return [hostile.extreme_frames(folder / f"tiny{i}.mp4", *sizes[i % len(sizes)])
            for i in range(count)]


def _bitflip(folder: Path, count: int) -> list[Path]:
    return [hostile.bit_flipped(REAL, folder / f"flip{i}.mp4", i, flips=10 * (i + 1))
            for i in range(count)]


def _truncated(folder: Path, count: int) -> list[Path]:
    return [hostile.truncated(REAL, folder / f"cut{i}.mp4", (i + 1) / (count + 1))
            for i in range(count)]


def _random(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"noise{i}.mp4"
        path.write_bytes(random.Random(i).randbytes(1000 * (i + 1) ** 2))
        paths.append(path)
    return paths


def _text(folder: Path, count: int) -> list[Path]:
    bodies = [b"", b"\x00" * 4096, b"hello", b"<html></html>", b"\x1aE\xdf\xa3" + b"\x00" * 64,
              b"ftypmp42" * 10, b"GIF89a" + b"\x00" * 100, b"%PDF-1.4\n"]
    paths = []
    for i in range(count):
        path = folder / f"text{i}.mp4"
        path.write_bytes(bodies[i % len(bodies)])
        paths.append(path)
    return paths


def _refs(folder: Path, count: int) -> list[Path]:
    target = encode(folder / "target.mp4", count=10)
    makers = [lambda i: hostile.concat_list(folder / f"list{i}.mp4", target),
              lambda i: hostile.hls_playlist(folder / f"play{i}.m3u8"),
              lambda i: hostile.sdp(folder / f"sdp{i}.mp4"),
              lambda i: hostile.svg(folder / f"svg{i}.mp4")]
    return [makers[i % len(makers)](i) for i in range(count)]


def _files(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"odd{i}.mp4"
        kind = i % 4
        if kind == 0:
            path.mkdir()
        elif kind == 1:
            os.mkfifo(path)
        elif kind == 2:
            path.symlink_to(folder / f"gone{i}.mp4")
        else:
            path.symlink_to("/etc/passwd")
        paths.append(path)
    return paths


def _size_change(folder: Path, count: int) -> list[Path]:
    return [hostile.size_change(folder / f"grow{i}.ts", [(64, 48), (128 * (i + 1), 96 * (i + 1))])
            for i in range(count)]


def _durations(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = hostile.matroska(folder / f"dur{i}.mkv", count=60, fps=2 if i % 2 else 10,
                                live=i % 3 == 0, width=320, height=240)
        if i % 3 == 1:
            hostile.false_duration(path, 1.0)
        paths.append(path)
    return paths


def _raw(folder: Path, count: int) -> list[Path]:
    return [hostile.raw_h264(folder / f"raw{i}.h264", count=25 * (i + 1), width=320, height=240)
            for i in range(count)]


CLASSES = {"tiny_frames": _tiny, "bitflipped_real": _bitflip, "truncated_real": _truncated,
           "random_bytes": _random, "non_video": _text, "references": _refs,
           "not_regular": _files, "size_change": _size_change, "duration_lies": _durations,
           "raw_h264": _raw}


def run_class(name: str, per_class: int) -> dict:
    """In this (child) process: make the class's files and scan each; outcomes and seconds."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        os.environ["MODERATION_DATABASE_URL"] = f"sqlite:///{root / 'bench.db'}"
        from moderation.db.uploads import register_upload
        from moderation.errors import ModerationError
        from moderation.service import Moderation

        service = Moderation()
        service.migrate()
        service.detector  # noqa: B018 (loaded before the clock starts)
        inputs = CLASSES[name](root, per_class)
        outcomes: Counter = Counter()
        seconds = []
        for path in inputs:
            started = time.perf_counter()
            with service.sessions() as session, session.begin():
                upload_id = register_upload(session, str(path), "bench").id
            try:
                outcome = service.scan(upload_id, [root])
                code = outcome.reasons[0]["code"] if outcome.decision == "unprocessable" else ""
                outcomes[f"{outcome.decision}:{code}" if code else outcome.decision] += 1
            except ModerationError as exc:  # SourceMissing: not a verdict in the embedded scan
                outcomes[f"error:{type(exc).__name__}"] += 1
            except Exception as exc:  # what must never happen: counted, not hidden
                outcomes[f"CRASH:{type(exc).__name__}"] += 1
            seconds.append(time.perf_counter() - started)
    return {"inputs": len(inputs), "outcomes": dict(outcomes), "max_s": max(seconds),
            "total_s": sum(seconds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--classes", default=",".join(CLASSES))
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_class(args.run, args.per_class)))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Hostile uploads through the embedded scan")
    for column in ("class", "inputs", "outcomes", "max s", "total s", "peak MB"):
        table.add_column(column)
    crashes = 0
    for name in args.classes.split(","):
        process = subprocess.Popen([sys.executable, __file__, "--run", name, "--per-class",
                                    str(args.per_class)], stdout=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONPATH": str(REPO)})
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            table.add_row(name, "-", f"child failed (status {status})", "-", "-", "-")
            crashes += 1
            continue
        result = json.loads(output.strip().splitlines()[-1])
        crashes += sum(n for k, n in result["outcomes"].items() if k.startswith("CRASH"))
        outcomes = ", ".join(f"{k} {n}" for k, n in sorted(result["outcomes"].items()))
        table.add_row(name, str(result["inputs"]), outcomes, f"{result['max_s']:.2f}",
                      f"{result['total_s']:.1f}", f"{usage.ru_maxrss / 1024:.0f}")
    Console(width=160).print(table)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
