"""``moderation-worker ROLE...``: a Celery worker whose queues, pool bounds and metrics come from
the settings, so that compose files and hosts say which role a worker plays, not which queue
names and flags it needs:

    moderation-worker scans            # scans and enrolments (settings.queue)
    moderation-worker alerts           # webhook deliveries (settings.alert_queue)
    moderation-worker scoring          # face crops to score (settings.scoring_queue): GPU hosts

Several roles share a worker when listed together. The pool grows from
``MODERATION_WORKER_MIN_PROCESSES`` to ``MODERATION_WORKER_MAX_PROCESSES`` while the queues
hold work (Celery's autoscaler); hosts are added with more of these processes against the same
broker and database (README: Scaling out). Arguments after ``--`` go to ``celery worker``.
"""

from __future__ import annotations

import argparse
import sys

from moderation.config import Settings
from moderation.errors import ConfigError

ROLES = ("scans", "alerts", "scoring")


def worker_argv(settings: Settings, roles: list[str], extra: list[str] = ()) -> list[str]:
    """The ``celery worker`` arguments of a worker playing ``roles``."""
    queues = []
    for role in dict.fromkeys(roles):
        if role == "scans":
            queues.append(settings.queue)
        elif role == "alerts":
            queues.append(settings.alert_queue)
        elif role == "scoring":
            if not settings.scoring_queue:
                raise ConfigError("the scoring role needs MODERATION_SCORING_QUEUE (scan "
                                  "workers score in their own processes while it is empty)")
            queues.append(settings.scoring_queue)
        else:
            raise ConfigError(f"{role}: not a worker role (one of {', '.join(ROLES)})")
    if {"scans", "scoring"} <= set(roles):
        # A scan's process waits for its crops' scores: sharing a pool, every process could be
        # a scan waiting for scoring tasks that no free process is left to run.
        raise ConfigError("scans and scoring cannot share a worker: run `moderation-worker "
                          "scoring` apart (or leave MODERATION_SCORING_QUEUE empty to score "
                          "in the scan's process)")
    low, high = settings.worker_min_processes, settings.worker_max_processes
    pool = ["--concurrency", str(high)] if low == high else ["--autoscale", f"{high},{low}"]
    return ["worker", "-Q", ",".join(dict.fromkeys(queues)), *pool,
            "-n", f"{'+'.join(dict.fromkeys(roles))}@%h", *extra]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moderation-worker",
        description="A Celery worker whose queues and pool bounds come from the settings.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="roles: scans (settings.queue), alerts (settings.alert_queue), scoring "
               "(settings.scoring_queue)")
    parser.add_argument("roles", nargs="+", choices=ROLES, metavar="ROLE",
                        help=f"one or more of {', '.join(ROLES)}")
    parser.add_argument("-l", "--loglevel", default="INFO", help="log level (default INFO)")
    parser.add_argument("--print", action="store_true", dest="print_only",
                        help="print the celery command instead of running it")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    extra: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, extra = argv[:split], argv[split + 1:]
    args = build_parser().parse_args(argv)
    from moderation.config import load_settings

    try:
        celery_argv = worker_argv(load_settings(), args.roles,
                                  ["-l", args.loglevel, *extra])
    except ConfigError as exc:
        print(f"moderation-worker: {exc}", file=sys.stderr)
        return 2
    if args.print_only:
        print("celery -A worker.app " + " ".join(celery_argv))
        return 0
    from worker.app import app

    app.worker_main(celery_argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
