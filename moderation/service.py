"""The moderation service's wiring: settings, database sessions, the detector and its face
scanner, shared by the embedded command, the HTTP API and the Celery worker.

Here the flow is put together: the database begins a scan, the pipeline analyses the upload
(``pipeline.analyze``), the policy decides (``policy.decide``) and the database records both.
None of those layers calls another sideways. The pipeline is imported when first used, so the
gate, which builds a ``Moderation`` for its sessions, never imports a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from moderation.config import Settings, get_settings
from moderation.db import persons
from moderation.db.scans import (
    ScanOutcome,
    ScanStarted,
    begin_scan,
    open_scan,
    record_scan,
    scan_lock,
)
from moderation.db.session import session_factory, upgrade
from moderation.errors import InputError
from moderation.faces.identity import Gallery, TrackRule
from moderation.policy.decide import TrackFinding, decide, unprocessable
from moderation.records import VideoAnalysis
from moderation.sources import enrolment_files, opened_source, shown_source

if TYPE_CHECKING:
    from moderation.detector.inference import CropScoring, Detector, SwapDetector
    from moderation.faces.scan import FaceScanner

Analyzer = Callable[[str, Gallery], VideoAnalysis]


class Moderation:
    """``score_remotely``: where face crops are scored instead of by a model of this process's
    own (the worker passes its scoring queue's client when ``settings.scoring_queue`` is set)."""

    def __init__(self, settings: Settings | None = None,
                 score_remotely: CropScoring | None = None):
        self.settings = settings or get_settings()
        self.score_remotely = score_remotely
        self.database_url = self.settings.resolved_database_url
        self.sessions = session_factory(self.database_url)

    def migrate(self) -> None:
        upgrade(self.database_url)

    @cached_property
    def detector(self) -> Detector:
        """What scans judge faces with: this process's own model, or, given
        ``score_remotely``, the checkpoint's config with the crops scored there."""
        if self.score_remotely is not None:
            from moderation.detector.checkpoint import DEFAULT_CHECKPOINT, read_config
            from moderation.detector.inference import DelegatedDetector

            # The config alone: its tensors are the scoring workers' to read and check.
            checkpoint = self.settings.detector_checkpoint or DEFAULT_CHECKPOINT
            return DelegatedDetector(read_config(checkpoint), self.score_remotely)
        return self.own_detector

    @cached_property
    def own_detector(self) -> SwapDetector:
        """The checkpoint's model in this process, on ``settings.detector_device``."""
        from moderation.detector.inference import SwapDetector, use_threads

        use_threads(self.settings.torch_threads)  # once per process: the service is
        return SwapDetector.load(self.settings.detector_checkpoint, self.settings.cache_dir,
                                 self.settings.detector_device)

    @cached_property
    def scanner(self) -> FaceScanner:
        from moderation.pipeline import build_scanner

        return build_scanner(self.settings, self.detector)

    def scan(self, upload_id: str, roots: Sequence[Path] | None = None) -> ScanOutcome:
        """Scan an upload; its source must resolve inside ``roots`` (the settings' source roots
        by default), checked again here because a symlink can change after registration."""
        from moderation.pipeline import analyze as analyze_video

        detector, scanner = self.detector, self.scanner
        roots = self.settings.source_roots if roots is None else roots

        def analyze(source: str, gallery: Gallery) -> VideoAnalysis:
            with opened_source(source, roots) as path:
                try:
                    return analyze_video(path, detector, scanner, gallery,
                                         self.settings.evidence_per_track)
                except InputError as exc:
                    # Named by the upload, not by the descriptor it was read through.
                    exc.source = shown_source(source)
                    exc.args = (f"{exc.source}: {exc.problem}",)
                    raise

        return scan_upload(self.sessions, upload_id, detector.version, analyze,
                           TrackRule.from_settings(self.settings), self.settings.no_match_action)

    def enroll(self, name: str, sources: list[Path], consents: list[str] = (),
               actor: str = "service", progress: bool = False) -> str:
        """Enrol in process (the CLI): describe, then add what is new, audited as ``actor``;
        ``progress``: a bar over several sources on stderr."""
        from moderation.enrolment import describe_sources

        described = describe_sources(self.scanner, sources, progress)
        with self.sessions() as session, session.begin():
            person = persons.enroll(session, name, described, self.scanner.describer.model_id,
                                    actor)
            for uploader in consents:
                persons.grant_consent(session, person, uploader, actor)
            return person.id

    def run_enrolment(self, enrolment_id: str) -> str | None:
        """Run an enrolment the API requested (the worker's ``enroll_person`` task)."""
        from moderation.enrolment import describe_sources

        scanner = self.scanner
        roots = self.settings.source_roots

        def describe(paths):
            return describe_sources(scanner, enrolment_files(paths, roots))

        return persons.run_enrolment(self.sessions, describe, scanner.describer.model_id,
                                     enrolment_id)


def scan_upload(sessions: sessionmaker[Session], upload_id: str, detector_version: str,
                analyze: Analyzer, identity_rule: TrackRule,
                no_match_action: str = "review") -> ScanOutcome:
    """Scan an upload with ``analyze`` and record the verdict ``policy.decide`` gives;
    ``InputError`` from the video (corrupt, no video stream, too long) becomes an
    ``unprocessable`` verdict. Safe to run twice (``db.scans``)."""
    with scan_lock(sessions, upload_id):
        return _scan(sessions, upload_id, detector_version, analyze, identity_rule,
                     no_match_action)


def _scan(sessions: sessionmaker[Session], upload_id: str, detector_version: str,
          analyze: Analyzer, identity_rule: TrackRule, no_match_action: str) -> ScanOutcome:
    started = begin_scan(sessions, upload_id, detector_version)
    if isinstance(started, ScanOutcome):
        return started
    gallery, names = load_gallery(sessions, identity_rule)
    try:
        analysis = analyze(started.source, gallery)
    except InputError as exc:
        return record_scan(sessions, upload_id, started.scan_id, detector_version,
                           unprocessable(exc.reason, str(exc), detector_version),
                           error=str(exc))
    with sessions() as session:
        consented = persons.consenting_persons(session, started.uploader_id)
    decision = decide(findings(analysis, names, consented), analysis.threshold,
                      detector_version, no_match_action)
    return record_scan(sessions, upload_id, started.scan_id, detector_version, decision,
                       analysis)


def give_up(sessions: sessionmaker[Session], upload_id: str, detector_version: str, code: str,
            message: str) -> ScanOutcome:
    """Record an ``unprocessable`` verdict for a scan that cannot finish (it keeps running past
    the time limit, or keeps killing its process), so the gate answers instead of pending.
    A scan that finished meanwhile keeps its verdict."""
    with scan_lock(sessions, upload_id):
        scan_id = open_scan(sessions, upload_id, detector_version)
        return record_scan(sessions, upload_id, scan_id, detector_version,
                           unprocessable(code, message, detector_version), error=message)


def load_gallery(sessions_or_session, rule: TrackRule) -> tuple[Gallery, dict[str, str]]:
    """The gallery of every protected person's descriptors, matching by ``rule``, and person
    id -> name; from a session, or a session factory (a read of its own)."""
    from moderation.enrolment import build_gallery

    if isinstance(sessions_or_session, Session):
        rows, names = persons.enrolled_descriptors(sessions_or_session)
    else:
        with sessions_or_session() as session:
            rows, names = persons.enrolled_descriptors(session)
    return build_gallery(rows, rule), names


def findings(analysis: VideoAnalysis, names: dict[str, str],
             consented: set[str]) -> list[TrackFinding]:
    """What the policy judges of each track: its score, and whom its face matches."""
    return [TrackFinding(t.track, *(t.swap_span or (t.start, t.end)), t.score,
                         t.match.person_id if t.match else None,
                         names.get(t.match.person_id) if t.match else None,
                         bool(t.match and t.match.certain and t.match.person_id in consented),
                         t.decisive,
                         t.match.distance if t.match else None,
                         t.match.certain if t.match else True,
                         t.match.context_agrees if t.match else None,
                         t.match.whole_distance if t.match else None)
            for t in analysis.tracks]


__all__ = ["Moderation", "ScanOutcome", "ScanStarted", "findings", "give_up", "load_gallery",
           "scan_upload"]
