"""Load run: a queue of short uploads drained by 1 and by 2 real Celery workers, no faults.
Prints throughput, latency per upload (queued to verdict, and the scan alone) and the scaling
ratio, measured in one run.

    .venv/bin/python bench/load.py [--uploads 1000] [--workers 1 2] [--seconds 1]   (make load)

The machinery is the chaos run's (bench/chaos.py) with no fault injected: PostgreSQL and
RabbitMQ are servers of the run's own (free ports, temporary data folders); every worker is one
single-process Celery worker with one torch thread. The uploads are, of every 20, the 13 shared
clips cut to their first ``--seconds``, 3 faceless clips and 4 hostile files, all queued at once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chaos import ChaosResult, ChaosRun, make_uploads  # noqa: E402
from sqlalchemy import select  # noqa: E402

from moderation.db.models import Scan, Upload, Verdict  # noqa: E402

console = Console(width=140)


@dataclass
class Drained:
    workers: int
    result: ChaosResult
    queued_to_verdict_s: np.ndarray  # per upload
    scan_s: np.ndarray  # per finished scan, started to finished


class LoadRun(ChaosRun):
    """A chaos run without faults that also reads each upload's times before its servers go."""

    def _count(self, result: ChaosResult) -> None:
        super()._count(result)
        with self.sessions() as session:
            rows = session.execute(
                select(Upload.created_at, Verdict.created_at)
                .join(Verdict, Verdict.upload_id == Upload.id).where(Verdict.is_current)).all()
            scans = session.execute(select(Scan.started_at, Scan.finished_at)
                                    .where(Scan.finished_at.is_not(None))).all()
        self.queued_to_verdict_s = np.array([(v - u).total_seconds() for u, v in rows])
        self.scan_s = np.array([(f - s).total_seconds() for s, f in scans])


def drain(uploads: list[Path], workdir: Path, workers: int) -> Drained:
    run = LoadRun(uploads, workdir, processes=workers, faults={}, timeout_s=6 * 3600,
                  say=lambda line: console.print(f"[{workers} worker(s)] {line}"))
    result = run.run()
    return Drained(workers, result, run.queued_to_verdict_s, run.scan_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of each clip")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="moderation-load-") as folder:
        for workers in args.workers:
            workdir = Path(folder) / f"workers{workers}"
            uploads = make_uploads(workdir / "uploads", args.uploads, seconds=args.seconds)
            runs.append(drain(uploads, workdir, workers))
    table = Table(title=f"{args.uploads} short uploads ({args.seconds:g} s clips, faceless "
                        "clips, hostile files), all queued at once, drained by one-process "
                        "workers on this machine")
    for column in ("workers", "verdicts", "lost", "wall", "throughput", "queued to verdict "
                   "p50 / p95", "scan p50 / p95", "scaling vs first"):
        table.add_column(column, justify="right")
    first = runs[0].result.verdicts / runs[0].result.total_s
    for run in runs:
        rate = run.result.verdicts / run.result.total_s
        latency = np.percentile(run.queued_to_verdict_s, [50, 95])
        scan = np.percentile(run.scan_s, [50, 95]) if len(run.scan_s) else [np.nan] * 2
        table.add_row(str(run.workers), str(run.result.verdicts), str(run.result.lost),
                      f"{run.result.total_s:.0f} s", f"{rate * 60:.1f} uploads/min",
                      f"{latency[0]:.0f} / {latency[1]:.0f} s",
                      f"{scan[0]:.2f} / {scan[1]:.2f} s", f"{rate / first:.2f}x")
    console.print(table)
    return 0 if all(run.result.lost == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
