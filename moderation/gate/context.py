"""What every route needs, built once by ``create_app`` and kept on ``app.state.gate``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from moderation.config import Settings
from moderation.gate.auth import LoginThrottle, ReviewSessions, Tokens
from moderation.gate.metrics import ApiMetrics
from moderation.gate.queue import Enqueue
from moderation.gate.thresholds import DetectorThresholds
from moderation.service import Moderation


@dataclass
class Gate:
    settings: Settings
    service: Moderation
    enqueue: Enqueue  # an upload's scan
    enqueue_enrolment: Enqueue  # an enrolment's description of sources
    tokens: Tokens
    thresholds: DetectorThresholds
    templates: Jinja2Templates
    review_sessions: ReviewSessions
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    metrics: ApiMetrics = field(default_factory=ApiMetrics)

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.service.sessions


def get_gate(request: Request) -> Gate:
    return request.app.state.gate
