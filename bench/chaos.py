"""Chaos run: a batch of uploads through real Celery workers while the system around them
fails. A worker is killed with SIGKILL in the middle of a scan (and a replacement started), the
broker is restarted and the database is restarted, each once, while scans run. Every upload must
end with exactly one verdict: the run prints what it saw and exits 1 otherwise.

    .venv/bin/python bench/chaos.py [--uploads 100] [--processes 2]      (make chaos)

PostgreSQL and RabbitMQ are servers of the run's own (tests/private_servers.py: free ports,
temporary data folders), so the machine's servers are never touched. The uploads are the shared
clips cut to their first seconds, faceless clips and a few hostile files, written under a
temporary folder that is the workers' only source root.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import av

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402

from moderation.config import Settings  # noqa: E402
from moderation.db.models import Scan, Upload, Verdict  # noqa: E402
from moderation.db.session import engine_for, session_factory, upgrade  # noqa: E402
from moderation.db.uploads import register_upload  # noqa: E402
from tests.conftest import SHARED  # noqa: E402
from tests.private_servers import PrivatePostgres, PrivateRabbitMQ  # noqa: E402
from tests.video import hostile  # noqa: E402
from worker.app import create_app  # noqa: E402
from worker.local import LocalWorker  # noqa: E402

VIDEOS = SHARED / "data" / "videos"
FAULTS = ("kill", "broker", "database")
# When each is injected: at these fractions of the verdicts recorded.
DEFAULT_FAULTS = {"kill": 0.15, "broker": 0.4, "database": 0.7}
# Celery's INFO lines about a task; the run sends each scan with the upload's id as task id.
TASK_LINE = re.compile(r"Task worker\.tasks\.scan_upload\[([^\]]+)\] (received|succeeded|retry"
                       r"|raised|failed|rejected)")


# --- The uploads ---

def trim(source: Path, path: Path, seconds: float) -> Path:
    """The first ``seconds`` of ``source``'s video stream, copied without re-encoding."""
    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        video = inp.streams.video[0]
        stream = out.add_stream_from_template(video)
        start = video.start_time or 0
        for packet in inp.demux(video):
            if packet.dts is None:
                continue
            if packet.pts is not None and (packet.pts - start) * video.time_base >= seconds:
                break
            packet.stream = stream
            out.mux(packet)
    return path


def make_uploads(folder: Path, count: int, seconds: float = 2.0, seed: int = 0) -> list[Path]:
    """``count`` upload files under ``folder`` (hard links to a few distinct files): of every
    20, the 13 shared clips cut to ``seconds``, 3 faceless clips and 4 hostile files (truncated,
    random bytes, 4096x2 frames, an SVG)."""
    base = folder / "base"
    base.mkdir(parents=True)
    clips = [trim(clip, base / f"clip_{clip.stem}.mp4", seconds)
             for clip in sorted(VIDEOS.glob("*.mp4"))]
    frames = int(seconds * 25)
    faceless = [hostile.matroska(base / "faceless_160.mkv", count=frames, fps=25, width=160,
                                 height=120),
                hostile.matroska(base / "faceless_320.mkv", count=frames, fps=25, width=320,
                                 height=240),
                hostile.matroska(base / "faceless_live.mkv", count=frames, fps=25, live=True)]
    noise = base / "noise.mp4"
    noise.write_bytes(random.Random(seed).randbytes(50_000))
    hostiles = [hostile.truncated(clips[0], base / "truncated.mp4", 0.5), noise,
                hostile.extreme_frames(base / "flat.mkv", 4096, 2), hostile.svg(base / "svg.mp4")]
    pool = clips + faceless + hostiles
    uploads = []
    for index in range(count):
        source = pool[index % len(pool)]
        path = folder / f"upload_{index:03d}{source.suffix}"
        path.hardlink_to(source)
        uploads.append(path)
    random.Random(seed).shuffle(uploads)
    return uploads


# --- The run ---

@dataclass
class Fault:
    kind: str  # kill, broker or database
    after: int  # injected once this many verdicts are recorded
    at: datetime | None = None
    seen_verdicts: int = 0
    in_flight: list[str] = field(default_factory=list)  # uploads whose scan was running
    took_s: float = 0.0  # how long the injection itself took (restart, replacement start)
    next_verdict_s: float | None = None
    in_flight_done_s: float | None = None


@dataclass
class ChaosResult:
    uploads: int
    processes: int
    verdicts: int = 0
    duplicates: int = 0  # verdicts and scans per upload beyond one
    lost: int = 0  # uploads without a current verdict
    stuck: int = 0  # scans left 'running'
    redone: int = 0  # scans started more than once (their first try was interrupted)
    retries: int = 0  # task retries logged by the workers (transient errors)
    per_worker: list[int] = field(default_factory=list)  # scans finished, by worker started
    decisions: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)  # the uploads' status column
    faults: list[Fault] = field(default_factory=list)
    setup_s: float = 0.0
    total_s: float = 0.0

    @property
    def ok(self) -> bool:
        return (self.verdicts == self.uploads and self.duplicates == 0 and self.lost == 0
                and self.stuck == 0 and all(fault.at is not None for fault in self.faults))


class ChaosRun:
    """One batch of ``uploads`` through ``processes`` single-process workers with ``faults``
    injected when the given fractions of the verdicts are recorded."""

    def __init__(self, uploads: list[Path], workdir: Path, processes: int = 2,
                 faults: dict[str, float] | None = None, down_s: float = 3.0,
                 database_down_s: float | None = None,
                 timeout_s: float = 1800.0, idle_s: float = 240.0, first_wave: float = 0.5,
                 worker_settings: dict[str, str] | None = None, say=print):
        self.uploads = uploads
        self.workdir = workdir
        self.processes = processes
        fractions = DEFAULT_FAULTS if faults is None else faults
        unknown = set(fractions) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}: expected some of {FAULTS}")
        self.faults = sorted((Fault(kind, max(1, int(fraction * len(uploads))))
                              for kind, fraction in fractions.items()), key=lambda f: f.after)
        self.down_s = down_s
        self.database_down_s = down_s if database_down_s is None else database_down_s
        self.timeout_s = timeout_s
        self.idle_s = idle_s
        self.first_wave = first_wave
        self.worker_settings = worker_settings or {}
        self.say = say
        self.workers: list[LocalWorker] = []
        self.started = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(2)
        self._replacements: list = []
        self.queue = f"moderation-chaos-{uuid.uuid4().hex[:8]}"

    def run(self) -> ChaosResult:
        setup = time.perf_counter()
        # The servers make their folders under /tmp, where their service users can reach them.
        with PrivatePostgres() as database, PrivateRabbitMQ() as broker:
            self.database, self.broker = database, broker
            self.url = database.create_database("moderation")
            upgrade(self.url)
            self.sessions = session_factory(self.url)
            self.app = create_app(Settings(broker_url=broker.url, queue=self.queue))
            self.env = {"MODERATION_DATABASE_URL": self.url,
                        "MODERATION_BROKER_URL": broker.url,
                        "MODERATION_SOURCE_ROOTS": str(self.workdir.resolve()),
                        "MODERATION_CACHE_DIR": str(self.workdir / "cache"),
                        "MODERATION_TORCH_THREADS": "1", **self.worker_settings}
            try:
                with ThreadPoolExecutor(self.processes) as pool:
                    list(pool.map(lambda _: self._start_worker(), range(self.processes)))
                result = ChaosResult(len(self.uploads), self.processes, faults=self.faults,
                                     setup_s=time.perf_counter() - setup)
                self._batch(result)
            finally:
                for started in self._replacements:  # wait for them, so they are stopped below
                    if started.exception() is not None:
                        self.say(f"a replacement worker did not start: {started.exception()}")
                self._pool.shutdown()
                for worker in self.workers:
                    worker.stop()
                self.app.close()
            self._count(result)
            engine_for(self.url).dispose()
        return result

    def _start_worker(self) -> LocalWorker:
        with self._lock:  # a log of its own: the replacement of a killed worker too
            self.started += 1
            log = self.workdir / "logs" / f"worker{self.started}.log"
        worker = LocalWorker(self.queue, self.env, log)
        with self._lock:
            self.workers.append(worker)
        return worker.start(timeout=120)

    def _send(self, upload_ids: list[str]) -> None:
        for upload_id in upload_ids:
            # The upload's id as the task's id: worker logs then say which upload they hold.
            self.app.send_task("worker.tasks.scan_upload", args=[upload_id], queue=self.queue,
                               task_id=upload_id)

    def _batch(self, result: ChaosResult) -> None:
        with self.sessions() as session, session.begin():
            self.upload_ids = [register_upload(session, str(path), "chaos").id
                               for path in self.uploads]
        wave = max(1, int(self.first_wave * len(self.upload_ids)))
        later = self.upload_ids[wave:]
        if "broker" not in {fault.kind for fault in self.faults}:
            wave, later = len(self.upload_ids), []
        start = time.perf_counter()
        self._send(self.upload_ids[:wave])
        self.say(f"{len(self.upload_ids)} uploads registered, {wave} scans sent to "
                 f"{self.processes} workers")
        pending = list(self.faults)
        deadline = time.monotonic() + self.timeout_s
        done, progress = 0, time.monotonic()
        while time.monotonic() < deadline:
            seen, done = done, self._verdicts_so_far(done)
            if done >= len(self.upload_ids) and not pending:
                break
            if done > seen:
                progress = time.monotonic()
            elif not pending and time.monotonic() - progress > self.idle_s:
                # Nothing recorded for so long after the last fault: what is missing is lost
                # (a retry's countdown stays far below this after the short outages here).
                self.say(f"no verdict for {self.idle_s:.0f} s: giving up waiting")
                break
            if later and done >= wave:  # the first wave is through before the broker fault
                self._send(later)
                later = []
            if pending and done >= pending[0].after and self._inject(pending[0], done):
                fault = pending.pop(0)
                self.say(f"{fault.kind}: at {fault.seen_verdicts} verdicts, "
                         f"{len(fault.in_flight)} scans in flight, took {fault.took_s:.1f} s")
                if fault.kind == "broker" and later:
                    self._send(later)  # the publisher reconnects too
                    self.say(f"{len(later)} more scans sent after the broker restart")
                    later = []
            time.sleep(0.1)
        result.total_s = time.perf_counter() - start

    def _verdicts_so_far(self, last: int) -> int:
        try:
            with self.sessions() as session:
                return session.scalar(select(func.count()).select_from(Verdict)
                                      .where(Verdict.is_current))
        except DBAPIError:  # the database is down: nothing new to count
            return last

    def _running(self) -> list[str]:
        with self.sessions() as session:
            return list(session.scalars(select(Scan.upload_id).where(Scan.status == "running")))

    def _inject(self, fault: Fault, done: int) -> bool:
        """Inject ``fault`` now if its moment has come; False to try again shortly."""
        running = self._running()
        if not running:
            return False  # only a fault that meets a scan tells anything
        if fault.kind == "kill":
            victim = self._busy_worker(set(running))
            if victim is None:
                return False
            worker, upload_id = victim
            fault.at, fault.in_flight = datetime.now(UTC), [upload_id]
            begin = time.perf_counter()
            worker.kill()  # SIGKILL to the worker and its pool process
            with self._lock:
                self.workers.remove(worker)
            # Its replacement starts in the background, as a supervisor would start it: the
            # batch (and the next fault) goes on meanwhile.
            self._replacements.append(self._pool.submit(self._start_worker))
        else:
            fault.at, fault.in_flight = datetime.now(UTC), running
            begin = time.perf_counter()
            if fault.kind == "broker":
                self.broker.restart(down_s=self.down_s)
            else:
                self.database.restart(down_s=self.database_down_s)
                engine_for(self.url).dispose()  # the run's own connections died with it
        fault.took_s = time.perf_counter() - begin
        fault.seen_verdicts = done
        return True

    def _busy_worker(self, running: set[str]) -> tuple[LocalWorker, str] | None:
        """A worker whose process is scanning an upload (received, not finished, and its scan
        row is running)."""
        with self._lock:
            workers = list(self.workers)
        for worker in workers:
            held = set()
            for task_id, event in TASK_LINE.findall(worker.log()):
                if event == "received":
                    held.add(task_id)
                else:
                    held.discard(task_id)
            busy = held & running
            if busy:
                return worker, busy.pop()
        return None

    def _count(self, result: ChaosResult) -> None:
        ids = self.upload_ids
        with self.sessions() as session:
            verdicts = session.execute(select(Verdict.upload_id, Verdict.created_at,
                                              Verdict.decision, Verdict.reasons,
                                              Verdict.is_current)
                                       .where(Verdict.upload_id.in_(ids))).all()
            scans = session.execute(select(Scan.upload_id, Scan.status, Scan.attempts)
                                    .where(Scan.upload_id.in_(ids))).all()
            statuses = Counter(session.scalars(select(Upload.status)
                                               .where(Upload.id.in_(ids))))
        per_upload = Counter(v.upload_id for v in verdicts)
        scans_per_upload = Counter(s.upload_id for s in scans)
        current = {v.upload_id for v in verdicts if v.is_current}
        result.verdicts = len(verdicts)
        result.duplicates = (sum(n - 1 for n in per_upload.values() if n > 1)
                             + sum(n - 1 for n in scans_per_upload.values() if n > 1))
        result.lost = len(set(ids) - current)
        result.stuck = sum(1 for s in scans if s.status == "running")
        result.redone = sum(1 for s in scans if s.attempts > 1)
        result.decisions = Counter(v.decision for v in verdicts if v.is_current)
        result.reasons = Counter(v.reasons[0]["code"] for v in verdicts
                                 if v.is_current and v.decision == "unprocessable")
        result.statuses = statuses
        logs = [worker.log() for worker in self._all_logs()]
        result.retries = sum(len(re.findall(r"\] retry:", log)) for log in logs)
        result.per_worker = [sum(1 for _id, event in TASK_LINE.findall(log)
                                 if event == "succeeded") for log in logs]
        times = {v.upload_id: v.created_at for v in verdicts}
        for fault in result.faults:
            if fault.at is None:
                continue
            later = [t for t in times.values() if t > fault.at]
            if later:
                fault.next_verdict_s = (min(later) - fault.at).total_seconds()
            ends = [times[u] for u in fault.in_flight if u in times]
            if ends and len(ends) == len(fault.in_flight):
                fault.in_flight_done_s = (max(ends) - fault.at).total_seconds()

    def _all_logs(self) -> list[LocalWorker]:
        return [LocalWorker(self.queue, {}, self.workdir / "logs" / f"worker{n}.log")
                for n in range(1, self.started + 1)]


# --- The report ---

def table(result: ChaosResult, title: str):
    from rich.table import Table

    faults = Table(title=title)
    for column in ("fault", "at verdict", "scans in flight", "injection s",
                   "next verdict after s", "in-flight scans done after s"):
        faults.add_column(column, justify="right" if column != "fault" else "left")
    names = {"kill": "kill -9 of a worker mid-scan (+ replacement)",
             "broker": "RabbitMQ restart", "database": "PostgreSQL restart"}
    for fault in result.faults:
        if fault.at is None:
            faults.add_row(names[fault.kind], "never injected", "", "", "", "")
            continue
        faults.add_row(names[fault.kind], str(fault.seen_verdicts), str(len(fault.in_flight)),
                       f"{fault.took_s:.1f}", _seconds(fault.next_verdict_s),
                       _seconds(fault.in_flight_done_s))
    summary = Table(title="outcome")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_column("must be", justify="right")
    rows = [("uploads", str(result.uploads), ""),
            ("verdicts recorded", str(result.verdicts), str(result.uploads)),
            ("duplicates (verdicts or scans beyond one per upload)", str(result.duplicates),
             "0"),
            ("lost (uploads without a verdict)", str(result.lost), "0"),
            ("scans left running", str(result.stuck), "0"),
            ("uploads' status", ", ".join(f"{k} {v}" for k, v in sorted(result.statuses.items())),
             f"done {result.uploads}"),
            ("scans redone after an interruption", str(result.redone), ""),
            ("task retries (transient errors)", str(result.retries), ""),
            ("scans finished per worker (in the order started)",
             ", ".join(map(str, result.per_worker)), ""),
            ("decisions", ", ".join(f"{k} {v}" for k, v in sorted(result.decisions.items())),
             ""),
            ("unprocessable reasons",
             ", ".join(f"{k} {v}" for k, v in sorted(result.reasons.items())), ""),
            ("setup s (servers, migrations, workers)", f"{result.setup_s:.1f}", ""),
            ("total s (first scan sent to last verdict)", f"{result.total_s:.1f}", ""),
            ("throughput, uploads/min", f"{60 * result.uploads / result.total_s:.1f}", "")]
    for row in rows:
        summary.add_row(*row)
    return faults, summary


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f}"


def main() -> int:
    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2, help="worker processes")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of the cut clips")
    parser.add_argument("--down", type=float, default=3.0,
                        help="seconds the broker and the database stay down")
    parser.add_argument("--database-down", type=float, default=None,
                        help="seconds the database stays down (default: --down)")
    parser.add_argument("--faults", default="kill,broker,database",
                        help="which faults, comma-separated (at 15%%, 40%% and 70%% of the "
                        "verdicts)")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder (logs)")
    args = parser.parse_args()
    console = Console(width=max(Console().width, 120))
    if not VIDEOS.is_dir():
        console.print(f"[red]{VIDEOS} is absent: the run needs the shared clips")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
    try:
        uploads = make_uploads(workdir / "uploads", args.uploads, args.seconds)
        kinds = [kind for kind in args.faults.split(",") if kind]
        if set(kinds) - set(FAULTS):
            parser.error(f"--faults {args.faults}: expected some of {','.join(FAULTS)}")
        faults = {kind: DEFAULT_FAULTS[kind] for kind in kinds}
        run = ChaosRun(uploads, workdir, args.processes, faults=faults, down_s=args.down,
                       database_down_s=args.database_down,
                       say=lambda line: console.print(f"[dim]{time.strftime('%X')}[/] {line}"))
        result = run.run()
        for part in table(result, f"{args.uploads} uploads, {args.processes} worker "
                                  f"processes, faults during the batch"):
            console.print(part)
        if not result.ok:
            console.print(f"[red]FAILED[/]: logs in {workdir}")
            args.keep = True
        return 0 if result.ok else 1
    finally:
        if args.keep:
            console.print(f"run folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
