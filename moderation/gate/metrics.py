"""The API's Prometheus metrics on ``GET /metrics`` (text exposition format).

``/metrics`` asks no token, as Prometheus scrapes without one: it shows counts by route
template and status, never ids, paths or bodies. Keep the API's port off the public network
or have the proxy in front refuse ``/metrics`` (README: Observability).

Each application has a registry of its own (tests build several in one process); ``moderation
serve`` runs one process, so no multiprocess mode is needed here.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

router = APIRouter(tags=["service"])

# Seconds: from a cached gate answer to a slow review page.
LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ApiMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("moderation_http_requests", "HTTP requests answered, by method, "
                                "route template and status", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("moderation_http_request_seconds", "Time to answer an HTTP "
                                 "request, by method and route template", ["method", "route"],
                                 buckets=LATENCY, registry=self.registry)
        self.gate_decisions = Counter("moderation_gate_decisions", "Publish-gate answers served, "
                                      "by decision and whether publishing was allowed",
                                      ["decision", "publish"], registry=self.registry)

    def gate_answered(self, decision: str, publish: bool) -> None:
        self.gate_decisions.labels(decision=decision, publish=str(publish).lower()).inc()


class RequestMetrics:
    """ASGI middleware: counts and times each request under its route's template
    (``/v1/uploads/{upload_id}/gate``), so ids never become labels; a path no route matched is
    ``unmatched``."""

    def __init__(self, app, metrics: ApiMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}  # an exception that escapes answers 500

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The router puts the matched route into the scope it was handed (this one).
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method=method, route=route,
                                         status=str(status["code"])).inc()
            self.metrics.latency.labels(method=method, route=route).observe(
                time.perf_counter() - started)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)
