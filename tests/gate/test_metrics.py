"""GET /metrics over real HTTP (uvicorn on a localhost port) after a few requests: request counts
by route template and status, the latency histogram, the gate's decisions."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from moderation.gate.app import create_app
from tests.gate.conftest import AUTH, add_upload, add_verdict, served

pytestmark = pytest.mark.services


@pytest.fixture()
def live_server(settings, queue, sessions):
    with served(create_app(settings, enqueue=queue)) as url:
        yield url


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_metrics_count_requests_by_route_and_the_gate_by_decision(live_server, sessions):
    blocked = add_upload(sessions, source="/videos/blocked.mp4")
    add_verdict(sessions, blocked, "block")
    pending = add_upload(sessions, source="/videos/pending.mp4")
    with httpx.Client(base_url=live_server, headers=AUTH, timeout=10) as client:
        for _ in range(2):
            assert client.get(f"/v1/uploads/{blocked}/gate").json()["decision"] == "block"
        assert client.get(f"/v1/uploads/{pending}/gate").json()["decision"] == "pending"
        assert client.get("/v1/uploads/no-such-upload/gate").status_code == 404
        assert client.get("/no/such/route").status_code == 404
        assert client.get("/healthz").status_code == 200
        # No token: Prometheus scrapes without one.
        response = httpx.get(f"{live_server}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    gate = "/v1/uploads/{upload_id}/gate"

    def value(name, **labels):
        return found.get((name, frozenset(labels.items())))

    assert value("moderation_http_requests_total", method="GET", route=gate, status="200") == 3
    assert value("moderation_http_requests_total", method="GET", route=gate, status="404") == 1
    assert value("moderation_http_requests_total", method="GET", route="unmatched",
                 status="404") == 1
    assert value("moderation_http_requests_total", method="GET", route="/healthz",
                 status="200") == 1
    # Ids never become labels.
    assert blocked not in response.text and pending not in response.text
    assert value("moderation_http_request_seconds_count", method="GET", route=gate) == 4
    assert value("moderation_http_request_seconds_bucket", method="GET", route=gate,
                 le="+Inf") == 4
    assert value("moderation_http_request_seconds_sum", method="GET", route=gate) > 0
    assert value("moderation_gate_decisions_total", decision="block", publish="false") == 2
    assert value("moderation_gate_decisions_total", decision="pending", publish="false") == 1
