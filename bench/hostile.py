"""Hostile uploads (over 500 by default, 18 classes, seeded) through the embedded scan (SQLite, the
real detector; one child process per class, so the figures do not mix) or through a real worker
on RabbitMQ and a throwaway PostgreSQL database: for each class how the scans ended, the longest
scan and the peak memory of the process that ran them. Exits 1 when any input crashed, stayed
pending, or went past the time or memory bound.

    .venv/bin/python bench/hostile.py [--through embedded|worker] [--scale 1] [--per-class N]
        [--classes tiny_frames,bombs] [--max-seconds 60] [--max-mb 3000]
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
import uuid
from collections import Counter
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import SHARED  # noqa: E402
from tests.video import hostile  # noqa: E402
from tests.video.conftest import encode  # noqa: E402

VIDEOS = SHARED / "data" / "videos"
REAL = VIDEOS / "real_hamilton_640x360.mp4"
CLIPS = sorted(VIDEOS.glob("*.mp4"))
ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
SUFFIXES = ("mp4", "mkv", "avi", "ts", "mov", "webm", "flv", "h264")


def _tiny(folder: Path, count: int) -> list[Path]:
    sizes = [(1, 1), (17, 4001), (2, 4096), (4096, 2), (31, 31), (8, 600), (600, 8), (3, 3)]
    return [hostile.extreme_frames(folder / f"tiny{i}.mp4", *sizes[i % len(sizes)])
            for i in range(count)]


def _bitflip(folder: Path, count: int) -> list[Path]:
    """Every shared clip in turn, 10 to 80 bytes replaced."""
    return [hostile.bit_flipped(CLIPS[i % len(CLIPS)], folder / f"flip{i}.mp4", i,
                                flips=10 * (i % 8 + 1)) for i in range(count)]


def _truncated(folder: Path, count: int) -> list[Path]:
    """Every shared clip in turn, cut at 3% to 97%."""
    return [hostile.truncated(CLIPS[i % len(CLIPS)], folder / f"cut{i}.mp4",
                              0.03 + 0.94 * ((i * 7) % count) / max(count - 1, 1))
            for i in range(count)]


def _zero_length(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"empty{i}.{SUFFIXES[i % len(SUFFIXES)]}"
        path.write_bytes(b"")
        paths.append(path)
    return paths


def _not_video(folder: Path, count: int) -> list[Path]:
    """PNG, JPEG, GIF, PDF, ZIP, gzip, tar, WAV, text, HTML, JSON, ELF, SQLite under video
    names."""
    kinds = hostile.NOT_VIDEO_KINDS
    paths = []
    for i in range(count):
        path = folder / f"file{i}.{SUFFIXES[(i // len(kinds)) % 4]}"
        path.write_bytes(hostile.not_video_bytes(kinds[i % len(kinds)], seed=i))
        paths.append(path)
    return paths


HUGE = [(16384, 16384), (65535, 65535), (16000, 16000), (16000, 1000), (8192, 8192),
        (65535, 16), (4096, 4096), (3841, 2160)]


def _huge(folder: Path, count: int) -> list[Path]:
    """H.264 parameter sets declaring HUGE sizes (raw, Matroska, mp4, AVI), and Matroska or AVI
    headers patched to declare them over a 640x480 stream."""
    paths = []
    for i in range(count):
        width, height = HUGE[i % len(HUGE)]
        kind = (i // len(HUGE)) % 6
        if kind < 4:
            format = (None, "matroska", "mp4", "avi")[kind]
            units = hostile.skip_frames_h264(width, height, 5, keyframe_blocks=50)
            paths.append(hostile.write_h264(folder / f"huge{i}.{format or 'h264'}", units,
                                            format, size=(width, height)))
        else:
            format = "matroska" if kind == 4 else "avi"
            path = hostile.write_h264(folder / f"lies{i}.{format[:3]}",
                                      hostile.skip_frames_h264(640, 480, 25), format)
            paths.append(hostile.patch_dimensions(path, width, height))
    return paths


def _hours(folder: Path, count: int) -> list[Path]:
    """Tiny frames over hours: 3 h at 1 fps, a few frames spread over 1-10 h, 14 min at 1 fps
    (within the 15 min limit: scanned)."""
    paths = []
    for i in range(count):
        format = ("matroska", "mp4", "mpegts")[i % 3]
        kind = (i // 3) % 3
        if kind == 0:
            pts = list(range(10800))
        elif kind == 1:
            pts = [0] + [3600 * (i % 10 + 1) * k // 4 for k in range(1, 5)]
        else:
            pts = list(range(840))
        units = hostile.skip_frames_h264(32, 32, len(pts), keyframe_every=250)
        paths.append(hostile.write_h264(folder / f"hours{i}.{format[:3]}", units, format,
                                        pts=pts, time_base=Fraction(1, 1)))
    return paths


def _streams(folder: Path, count: int) -> list[Path]:
    counts = [2000, 63, 1000, 5000, 10, 62, 1500]
    return [hostile.many_streams(folder / f"streams{i}.mkv", counts[i % len(counts)],
                                 "video" if i % 4 == 3 else "audio") for i in range(count)]


def _no_video(folder: Path, count: int) -> list[Path]:
    formats = ("mp4", "matroska", "mpegts", "flv", "avi", "mov")
    return [hostile.no_video(folder / f"sound{i}.{SUFFIXES[i % 4]}", formats[i % len(formats)])
            for i in range(count)]


def _bombs(folder: Path, count: int) -> list[Path]:
    """Kilobytes that decode to gigabytes: 4K H.264 of skipped frames (500-3000 frames,
    Matroska, mp4 or raw), flat 4K PNG or MJPEG frames in AVI, PNG frames over the limit."""
    paths = []
    for i in range(count):
        kind = i % 4
        if kind < 2:
            format = ("matroska", "mp4", None)[(i // 4) % 3] if kind == 0 else None
            units = hostile.skip_frames_h264(3840, 2160, 500 * (i % 6 + 1))
            paths.append(hostile.write_h264(folder / f"bomb{i}.{format or 'h264'}"[:40], units,
                                            format, size=(3840, 2160)))
        elif kind == 2:
            paths.append(hostile.image_bomb(folder / f"bomb{i}.avi", ("png", "mjpeg")[i % 2],
                                            3840, 2160, 50))
        else:
            paths.append(hostile.image_bomb(folder / f"bomb{i}.avi", "png", 8192, 8192, 3))
    return paths


ANGLES = [45, 1000, -90, 90, 180, 270, 100, -45, 359, 135, None, "scale"]


def _rotation(folder: Path, count: int) -> list[Path]:
    """Display matrices of odd angles, an all-zero one (NaN) and a 1000:0.001 scaling."""
    paths = []
    for i in range(count):
        angle = ANGLES[i % len(ANGLES)]
        path = folder / f"turned{i}.mp4"
        if angle is None:
            paths.append(hostile.rotated(path, matrix=(0, 0, 0, 0)))
        elif angle == "scale":
            paths.append(hostile.rotated(path, matrix=(1000, 0, 0, 0.001)))
        else:
            paths.append(hostile.rotated(path, degrees=angle))
    return paths


def _random(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"noise{i}.{SUFFIXES[i % len(SUFFIXES)]}"
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
    target = encode(folder / "target.mkv", count=10)
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


# name: (maker, inputs by default). Scanned in this order.
CLASSES = {"zero_length": (_zero_length, 40), "not_video": (_not_video, 78),
           "magic_prefixes": (_text, 24), "random_bytes": (_random, 60),
           "tiny_frames": (_tiny, 24), "huge_dimensions": (_huge, 48),
           "hours_long": (_hours, 27), "many_streams": (_streams, 28),
           "no_video_stream": (_no_video, 30), "rotation": (_rotation, 24),
           "references": (_refs, 24), "not_regular": (_files, 24),
           "truncated_real": (_truncated, 26), "bitflipped_real": (_bitflip, 13),
           "size_change": (_size_change, 8), "duration_lies": (_durations, 8),
           "raw_h264": (_raw, 8), "bombs": (_bombs, 8)}


def _count(name: str, args) -> int:
    return args.per_class or max(1, round(CLASSES[name][1] * args.scale))


def _label(decision: str, reasons: list) -> str:
    code = reasons[0]["code"] if decision == "unprocessable" and reasons else ""
    return f"{decision}:{code}" if code else decision


def run_class(name: str, count: int) -> dict:
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
        inputs = CLASSES[name][0](root, count)
        size = sum(p.lstat().st_size for p in inputs if p.is_file() or p.is_symlink())
        outcomes: Counter = Counter()
        seconds = []
        for path in inputs:
            started = time.perf_counter()
            with service.sessions() as session, session.begin():
                upload_id = register_upload(session, str(path), "bench").id
            try:
                outcome = service.scan(upload_id, [root])
                outcomes[_label(outcome.decision, outcome.reasons)] += 1
            except ModerationError as exc:  # SourceMissing: not a verdict in the embedded scan
                outcomes[f"error:{type(exc).__name__}"] += 1
            except Exception as exc:  # what must never happen: counted, not hidden
                outcomes[f"CRASH:{type(exc).__name__}"] += 1
            seconds.append(time.perf_counter() - started)
    return {"inputs": len(inputs), "outcomes": dict(outcomes), "max_s": max(seconds),
            "total_s": sum(seconds), "bytes": size}


def embedded(args) -> list[dict]:
    """One child process per class; its peak RSS from wait4 (the detector included)."""
    rows = []
    for name in args.classes.split(","):
        process = subprocess.Popen([sys.executable, __file__, "--run", name, "--per-class",
                                    str(_count(name, args))], stdout=subprocess.PIPE,
                                   text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            rows.append({"name": name, "failed": f"child failed (status {status})"})
            continue
        result = json.loads(output.strip().splitlines()[-1])
        rows.append({"name": name, **result, "peak_mb": usage.ru_maxrss / 1024})
    return rows


def _peak_mb(pids: list[int], reset: bool = False) -> float:
    """The largest VmHWM of ``pids``; ``reset`` starts their peaks again from the current RSS
    (Linux: writing 5 to clear_refs)."""
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
            if reset:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            continue
    return peak


def through_worker(args) -> list[dict]:
    """Every class's uploads registered in a throwaway PostgreSQL database and sent to one
    worker process on a private queue; waits for every verdict. Per class: the longest scan
    (its row's started to finished), the pool process's peak RSS over the class, and how many
    uploads have no verdict or a scan still running when the wait ends."""
    from sqlalchemy import create_engine, select, text

    from moderation.db.models import Scan, Upload, Verdict
    from moderation.db.session import engine_for, session_factory, upgrade
    from moderation.db.uploads import register_upload
    from worker.app import app
    from worker.local import LocalWorker, delete_queue

    admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    database = f"moderation_hostile_{uuid.uuid4().hex[:8]}"
    url = args.admin_url.rsplit("/", 1)[0] + f"/{database}"
    queue = f"moderation-hostile-{uuid.uuid4().hex[:8]}"
    rows = []
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    try:
        upgrade(url)
        sessions = session_factory(url)
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder).resolve()
            env = {"MODERATION_DATABASE_URL": url, "MODERATION_SOURCE_ROOTS": str(root),
                   "MODERATION_CACHE_DIR": str(root / "cache")}
            worker = LocalWorker(queue, env, root / "worker.log")
            try:
                worker.start()
                warm = hostile.extreme_frames(root / "warm.mkv", 64, 64)
                _send_and_wait(app, sessions, register_upload, Verdict, [warm], queue, 300)
                for name in args.classes.split(","):
                    place = root / name
                    place.mkdir()
                    inputs = CLASSES[name][0](place, _count(name, args))
                    size = sum(p.lstat().st_size for p in inputs if p.is_file()
                               or p.is_symlink())
                    _peak_mb(worker.children(), reset=True)
                    started = time.perf_counter()
                    ids = _send_and_wait(app, sessions, register_upload, Verdict, inputs, queue,
                                         60 + len(inputs) * args.max_seconds)
                    wall = time.perf_counter() - started
                    peak = _peak_mb(worker.children())
                    with sessions() as session:
                        verdicts = {v.upload_id: v for v in session.scalars(select(Verdict).where(
                            Verdict.upload_id.in_(ids), Verdict.is_current))}
                        scans = session.scalars(select(Scan).where(Scan.upload_id.in_(ids)))
                        seconds = [(s.finished_at - s.started_at).total_seconds()
                                   for s in scans if s.finished_at and s.started_at]
                        running = session.scalar(select(text("count(*)")).select_from(Scan)
                                                 .where(Scan.upload_id.in_(ids),
                                                        Scan.status == "running"))
                        pending = session.scalar(select(text("count(*)")).select_from(Upload)
                                                 .where(Upload.id.in_(ids),
                                                        Upload.status != "done"))
                    outcomes = Counter(_label(v.decision, v.reasons) for v in verdicts.values())
                    if len(verdicts) < len(ids):
                        outcomes["PENDING"] += len(ids) - len(verdicts)
                    if running:
                        outcomes["RUNNING"] += running
                    if pending:
                        outcomes["NOT_DONE"] += pending
                    rows.append({"name": name, "inputs": len(ids), "outcomes": dict(outcomes),
                                 "max_s": max(seconds, default=0.0), "total_s": wall,
                                 "bytes": size, "peak_mb": peak})
            finally:
                worker.stop()
                delete_queue(app, queue)
    finally:
        engine_for(url).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
    return rows


def _send_and_wait(app, sessions, register_upload, Verdict, inputs, queue, timeout) -> list:
    from sqlalchemy import select

    with sessions() as session, session.begin():
        ids = [register_upload(session, str(path), "bench").id for path in inputs]
    for upload_id in ids:
        app.send_task("worker.tasks.scan_upload", args=[upload_id], queue=queue)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            done = session.scalar(select(text_count()).select_from(Verdict).where(
                Verdict.upload_id.in_(ids), Verdict.is_current))
        if done == len(ids):
            break
        time.sleep(0.2)
    return ids


def text_count():
    from sqlalchemy import func

    return func.count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--through", choices=("embedded", "worker"), default="embedded")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every class's default number of inputs")
    parser.add_argument("--per-class", type=int, default=0,
                        help="this many inputs in every class instead")
    parser.add_argument("--classes", default=",".join(CLASSES))
    # The bounds. Time: the reader's own limits, the packet pass (30 s) and the decoding (120
    # s), the slowest measured (a bit-flipped clip, 40 s on 2 busy cores) well inside. Memory:
    # the 4K bombs peak at 2.6 GB (frame-threaded decoding, the detector's 1.2 GB included).
    parser.add_argument("--max-seconds", type=float, default=150.0,
                        help="the longest one scan may take")
    parser.add_argument("--max-mb", type=float, default=4000.0,
                        help="the most the scanning process may hold (peak RSS, detector "
                             "included)")
    parser.add_argument("--admin-url", default=ADMIN, help="(worker) a PostgreSQL URL allowed "
                        "to create and drop databases")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run_class(args.run, args.per_class)))
        return 0
    from rich.console import Console
    from rich.table import Table

    started = time.perf_counter()
    rows = embedded(args) if args.through == "embedded" else through_worker(args)
    where = ("the embedded scan (one child process a class)" if args.through == "embedded"
             else "one worker process on RabbitMQ and PostgreSQL")
    total = sum(row.get("inputs", 0) for row in rows)
    table = Table(title=f"{total} hostile uploads through {where}; bounds {args.max_seconds:g} s "
                        f"a scan, {args.max_mb:g} MB")
    for column in ("class", "inputs", "KB", "outcomes", "max s", "total s", "peak MB"):
        table.add_column(column)
    failures = 0
    for row in rows:
        if "failed" in row:
            table.add_row(row["name"], "-", "-", f"[red]{row['failed']}", "-", "-", "-")
            failures += 1
            continue
        bad = sum(n for k, n in row["outcomes"].items()
                  if k.startswith(("CRASH", "PENDING", "RUNNING", "NOT_DONE")))
        slow, big = row["max_s"] > args.max_seconds, row["peak_mb"] > args.max_mb
        failures += bad + slow + big
        outcomes = ", ".join(f"{k} {n}" for k, n in sorted(row["outcomes"].items()))
        table.add_row(row["name"], str(row["inputs"]), f"{row['bytes'] / 1024:.0f}",
                      f"[red]{outcomes}" if bad else outcomes,
                      f"[red]{row['max_s']:.2f}" if slow else f"{row['max_s']:.2f}",
                      f"{row['total_s']:.1f}",
                      f"[red]{row['peak_mb']:.0f}" if big else f"{row['peak_mb']:.0f}")
    console = Console(width=200)
    console.print(table)
    console.print(f"{total} inputs in {time.perf_counter() - started:.0f} s; "
                  + (f"[red]{failures} over a bound, crashed or left pending" if failures
                     else "none crashed, stayed pending or went past a bound"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
