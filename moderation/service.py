"""The moderation service's wiring: settings, database sessions and the detector, shared by the
embedded command, the HTTP API and the Celery worker."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from moderation.analysis import analyze_video
from moderation.config import Settings, get_settings
from moderation.db.scans import ScanOutcome, scan_upload
from moderation.db.session import session_factory, upgrade
from moderation.errors import InputError
from moderation.faces.identity import TrackRule
from moderation.sources import enrolment_files, opened_source, shown_source


class Moderation:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.database_url = self.settings.resolved_database_url
        self.sessions = session_factory(self.database_url)

    def migrate(self) -> None:
        upgrade(self.database_url)

    @cached_property
    def detector(self):
        from moderation.detector.inference import SwapDetector

        return SwapDetector.load(settings=self.settings)

    def scan(self, upload_id: str, roots: Sequence[Path] | None = None) -> ScanOutcome:
        """Scan an upload; its source must resolve inside ``roots`` (the settings' source roots
        by default), checked again here because a symlink can change after registration."""
        detector = self.detector
        roots = self.settings.source_roots if roots is None else roots

        def analyze(source: str, gallery):
            with opened_source(source, roots) as path:
                try:
                    return analyze_video(path, detector, gallery,
                                         self.settings.evidence_per_track)
                except InputError as exc:
                    # Named by the upload, not by the descriptor it was read through.
                    exc.source = shown_source(source)
                    exc.args = (f"{exc.source}: {exc.problem}",)
                    raise

        return scan_upload(self.sessions, upload_id, detector.version, analyze,
                           TrackRule.from_settings(self.settings), self.settings.no_match_action)

    def enroll(self, name: str, sources: list[Path], consents: list[str] = (),
               actor: str = "service") -> str:
        """Enrol in process (the CLI): describe, then add what is new, audited as ``actor``."""
        from moderation.db.persons import describe_sources, enroll, grant_consent

        scanner = self.detector.scanner
        described = describe_sources(scanner, sources)
        with self.sessions() as session, session.begin():
            person = enroll(session, name, described, scanner.describer.model_id, actor)
            for uploader in consents:
                grant_consent(session, person, uploader, actor)
            return person.id

    def run_enrolment(self, enrolment_id: str) -> str | None:
        """Run an enrolment the API requested (the worker's ``enroll_person`` task)."""
        from moderation.db.persons import describe_sources, run_enrolment

        scanner = self.detector.scanner
        roots = self.settings.source_roots

        def describe(paths):
            return describe_sources(scanner, enrolment_files(paths, roots))

        return run_enrolment(self.sessions, describe, scanner.describer.model_id, enrolment_id)
