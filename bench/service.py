"""Benchmark of the moderation service behind its queue: uploads per minute with one and with two
worker processes on the shared clips (RabbitMQ and PostgreSQL as in production), against the bare
pipeline in process (detector and analysis, no queue, no database). Run with
`.venv/bin/python bench/service.py` (needs ../shared, PostgreSQL and RabbitMQ on this machine);
it works in a throwaway database and queue that it deletes afterwards."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, select, text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the worker package, also where the venv predates it

from moderation.config import Settings  # noqa: E402
from moderation.db.models import Scan, Verdict  # noqa: E402
from moderation.db.session import engine_for, session_factory, upgrade  # noqa: E402
from moderation.db.uploads import register_upload  # noqa: E402
from moderation.pipeline import analyze  # noqa: E402
from moderation.service import Moderation  # noqa: E402
from worker.app import app  # noqa: E402
from worker.local import LocalWorker, delete_queue  # noqa: E402

VIDEOS = REPO.parent / "shared" / "data" / "videos"
ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
WARM_UP = "reenact_ffpp_c23_neuraltextures_004_982.mp4"  # the quickest clip
console = Console(width=max(Console().width, 110))


class ThrowawayDatabase:
    """A new database migrated to head; dropped on exit (like the tests' ``postgres_url``)."""

    def __init__(self, admin_url: str):
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.name = f"moderation_bench_{uuid.uuid4().hex[:8]}"
        self.url = admin_url.rsplit("/", 1)[0] + f"/{self.name}"

    def __enter__(self) -> str:
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        upgrade(self.url)
        return self.url

    def __exit__(self, *_exc) -> None:
        engine_for(self.url).dispose()
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def in_process(settings: Settings, clips: list[Path]) -> tuple[list[float], list[float]]:
    """Seconds per clip, alternating on each clip so both see the machine in the same state:
    the bare analysis (no queue, no database) and the service's scan (database, no queue)."""
    service = Moderation(settings)
    detector = service.detector
    analyze(VIDEOS / WARM_UP, detector, service.scanner, None, settings.evidence_per_track)
    bare, scans = [], []
    for clip in clips:
        start = time.perf_counter()
        analyze(clip, detector, service.scanner, None, settings.evidence_per_track)
        bare.append(time.perf_counter() - start)
        (upload_id,) = register(service.sessions, [clip])
        start = time.perf_counter()
        service.scan(upload_id)
        scans.append(time.perf_counter() - start)
    return bare, scans


def register(sessions, clips: list[Path]) -> list[str]:
    with sessions() as session, session.begin():
        return [register_upload(session, str(clip), "bench").id for clip in clips]


def wait_for_verdicts(sessions, upload_ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    wanted = set(upload_ids)
    while time.monotonic() < deadline:
        with sessions() as session:
            done = set(session.scalars(select(Verdict.upload_id).where(
                Verdict.upload_id.in_(wanted), Verdict.is_current)))
        if done == wanted:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{len(wanted - done)} of {len(wanted)} verdicts missing after "
                       f"{timeout:.0f} s")


def through_workers(database_url: str, clips: list[Path], processes: int, torch_threads: int,
                    logs: Path) -> dict:
    """Wall time from sending every scan until every verdict exists, warm workers."""
    sessions = session_factory(database_url)
    queue = f"moderation-bench-{uuid.uuid4().hex[:8]}"
    env = {"MODERATION_DATABASE_URL": database_url,
           "MODERATION_TORCH_THREADS": str(torch_threads),
           "MODERATION_SOURCE_ROOTS": str(VIDEOS.resolve())}  # the clips are the uploads
    worker = LocalWorker(queue, env, logs / f"{queue}.log", concurrency=processes)
    try:
        worker.start()
        # One scan per pool process at once, so each loads its detector before the clock runs.
        warm = register(sessions, [VIDEOS / WARM_UP] * processes)
        for upload_id in warm:
            app.send_task("worker.tasks.scan_upload", args=[upload_id], queue=queue)
        wait_for_verdicts(sessions, warm, 300)
        upload_ids = register(sessions, clips)
        start = time.perf_counter()
        for upload_id in upload_ids:
            app.send_task("worker.tasks.scan_upload", args=[upload_id], queue=queue)
        wait_for_verdicts(sessions, upload_ids, 60 * len(clips))
        wall = time.perf_counter() - start
    finally:
        worker.stop()
        delete_queue(app, queue)
    with sessions() as session:
        scans = session.scalars(select(Scan).where(Scan.upload_id.in_(upload_ids))).all()
        in_task = [(scan.finished_at - scan.started_at).total_seconds() for scan in scans]
        bad = session.scalars(select(Verdict.decision).where(
            Verdict.upload_id.in_(upload_ids), Verdict.decision == "unprocessable")).all()
    return {"wall": wall, "in_task": in_task, "unprocessable": len(bad)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1, help="passes over the 13 clips")
    parser.add_argument("--admin-url", default=ADMIN, help="a PostgreSQL URL allowed to create "
                        "and drop databases")
    args = parser.parse_args()
    if not VIDEOS.is_dir():
        console.print(f"[red]{VIDEOS} is absent: the benchmark needs the shared clips")
        return 2
    clips = sorted(VIDEOS.glob("*.mp4")) * args.rounds
    count = len(clips)
    with ThrowawayDatabase(args.admin_url) as url, tempfile.TemporaryDirectory() as logs:
        bare, scans = in_process(Settings(database_url=url, source_roots=[VIDEOS.resolve()]),
                                 clips)
        workers = {(processes, threads): through_workers(url, clips, processes, threads,
                                                         Path(logs))
                   for processes, threads in ((1, 2), (1, 1), (2, 1), (2, 2))}
    bare_mean = statistics.mean(bare)
    table = Table(title=f"{count} uploads of the {len(set(clips))} shared clips, warm "
                        "processes, 2 cores")
    for column in ("how", "threads", "wall s", "uploads/min", "s/upload", "in task s",
                   "overhead s"):
        table.add_column(column, justify="left" if column == "how" else "right")

    def row(label, threads, wall, in_task, overhead):
        per_upload = wall / count
        table.add_row(label, str(threads), f"{wall:.1f}", f"{60 / per_upload:.1f}",
                      f"{per_upload:.2f}", f"{in_task:.2f}" if in_task else "",
                      f"{overhead:+.2f}" if overhead is not None else "")

    row("analysis only, in process", 2, sum(bare), None, None)
    row("scan with database, in process", 2, sum(scans), statistics.mean(scans),
        statistics.median(s - b for s, b in zip(scans, bare, strict=True)))
    for (processes, threads), result in workers.items():
        in_task = statistics.mean(result["in_task"])
        # With one process, what an upload costs beyond its scan is the queue's share; with
        # two, the processes share the cores and only the throughput compares.
        queue_share = result["wall"] / count - in_task if processes == 1 else None
        row(f"{processes} worker process{'es' if processes > 1 else ''} (RabbitMQ)", threads,
            result["wall"], in_task, queue_share)
        if result["unprocessable"]:
            console.print(f"[yellow]{result['unprocessable']} clips were unprocessable")
    console.print(table)
    console.print(
        f"Analysis alone: {bare_mean:.2f} s a clip on average (min {min(bare):.2f}, max "
        f"{max(bare):.2f}). Overhead: for the in-process scan, the median of (scan - analysis) "
        "on the same clip, run back to back: the database's share; for one worker process, "
        "seconds per upload minus the scan's own time (its row's start to finish): the "
        "queue's share. 'in task' is the mean of the scans' start to finish.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
