"""Per-request telemetry: request ids, SERVER spans, latency metrics and JSON logs."""

import io
import json
import logging
import sys
from typing import Annotated

import httpx
import pytest
import structlog
from fastapi import APIRouter, Depends, Request
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from mentorship_kit.app import ServiceSpec, create_app
from mentorship_kit.auth import Principal, issue_dev_token, require_roles
from mentorship_kit.context import request_metadata
from mentorship_kit.eventstore import kit_metadata
from mentorship_kit.settings import DEFAULT_DEV_SECRET, ServiceSettings
from mentorship_kit.telemetry import (
    _ServiceTracerProvider,
    configure_logging,
    configure_tracing,
    current_traceparent,
)

SERVICE = "telemetrysvc"
INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_PARENT = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def spans():
    exporter = InMemorySpanExporter()
    configure_tracing(SERVICE, "1.0").add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def routes() -> APIRouter:
    router = APIRouter()

    @router.get("/v1/items/{item_id}")
    async def item(item_id: str) -> dict[str, str | None]:
        return {"item_id": item_id, "traceparent": current_traceparent()}

    @router.post("/v1/commands")
    async def command(
        request: Request,
        principal: Annotated[Principal, Depends(require_roles("participant", "admin"))],
    ) -> dict[str, str | None]:
        meta = request_metadata(request, principal)
        return {
            "correlation_id": meta.correlation_id,
            "actor": meta.actor,
            "actor_role": meta.actor_role,
            "traceparent": meta.traceparent,
        }

    return router


@pytest.fixture
async def client(spans, tmp_path):
    spans.clear()
    spec = ServiceSpec(
        name=SERVICE, title="t", version="1.0", metadata=kit_metadata(), routers=[routes()]
    )
    app = create_app(
        spec, ServiceSettings(dev_mode=True, database_url=f"sqlite:///{tmp_path}/t.db")
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def histogram_count(route: str, status: str, method: str = "GET") -> float:
    labels = {"service": SERVICE, "method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0.0


async def test_server_span_continues_the_incoming_trace_under_the_route_template(client, spans):
    traceparent = f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"

    response = await client.get("/v1/items/42", headers={"traceparent": traceparent})

    (span,) = spans.get_finished_spans()
    assert span.name == "GET /v1/items/{item_id}"
    assert span.kind == SpanKind.SERVER
    assert trace.format_trace_id(span.context.trace_id) == INCOMING_TRACE
    assert trace.format_span_id(span.parent.span_id) == INCOMING_PARENT
    assert span.attributes["http.route"] == "/v1/items/{item_id}"
    assert span.attributes["http.response.status_code"] == 200
    span_id = trace.format_span_id(span.context.span_id)
    assert response.json()["traceparent"] == f"00-{INCOMING_TRACE}-{span_id}-01"


async def test_probes_are_not_traced(client, spans):
    await client.get("/healthz")

    assert spans.get_finished_spans() == ()


async def test_latency_histogram_is_labelled_by_route_template_and_status(client):
    before = histogram_count("/v1/items/{item_id}", "200")
    unmatched_before = histogram_count("unmatched", "404")

    await client.get("/v1/items/1")
    await client.get("/v1/items/2")
    await client.get("/no/such/path")

    assert histogram_count("/v1/items/{item_id}", "200") == before + 2
    assert histogram_count("unmatched", "404") == unmatched_before + 1
    in_flight = REGISTRY.get_sample_value("http_requests_in_flight", {"service": SERVICE})
    assert in_flight == 0


async def test_request_id_is_echoed_or_generated(client):
    echoed = await client.get("/healthz", headers={"X-Correlation-ID": "corr-7"})
    generated = await client.get("/healthz")
    refused = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})

    assert echoed.headers["x-request-id"] == "corr-7"
    assert echoed.headers["x-correlation-id"] == "corr-7"
    assert len(generated.headers["x-request-id"]) == 32
    assert refused.headers["x-request-id"] != "bad id\twith spaces"


async def test_request_metadata_for_commands(client, spans):
    bearer = issue_dev_token(DEFAULT_DEV_SECRET, roles=["participant", "admin"], sub="emp-9")

    response = await client.post(
        "/v1/commands",
        headers={"Authorization": f"Bearer {bearer}", "X-Request-ID": "req-55"},
    )

    (span,) = spans.get_finished_spans()
    trace_id = trace.format_trace_id(span.context.trace_id)
    span_id = trace.format_span_id(span.context.span_id)
    meta = response.json()
    assert meta | {"traceparent": "t"} == {
        "correlation_id": "req-55",
        "actor": "emp-9",
        "actor_role": "admin",
        "traceparent": "t",
    }
    assert meta["traceparent"].startswith(f"00-{trace_id}-{span_id}-")


def test_logs_are_json_lines_with_service_and_trace_ids(spans):
    configure_logging(service=SERVICE, level="INFO", json=True)
    handler = next(h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)
                   and isinstance(h.formatter, structlog.stdlib.ProcessorFormatter))  # fmt: skip
    buffer = io.StringIO()
    handler.setStream(buffer)
    try:
        with trace.get_tracer(__name__).start_as_current_span("work") as span:
            structlog.get_logger("mentorship_kit.test").info("thing.happened", count=3)
            logging.getLogger("uvicorn.error").warning("from the standard library")
    finally:
        handler.setStream(sys.stderr)

    ours, stdlib = (json.loads(line) for line in buffer.getvalue().splitlines())
    trace_id = trace.format_trace_id(span.get_span_context().trace_id)
    assert ours | {"timestamp": "t"} == {
        "event": "thing.happened",
        "count": 3,
        "level": "info",
        "logger": "mentorship_kit.test",
        "service": SERVICE,
        "trace_id": trace_id,
        "span_id": trace.format_span_id(span.get_span_context().span_id),
        "timestamp": "t",
    }
    assert ours["timestamp"].endswith("Z")
    assert stdlib["event"] == "from the standard library"
    assert stdlib["logger"] == "uvicorn.error"
    assert stdlib["level"] == "warning"
    assert stdlib["trace_id"] == trace_id


def test_spans_are_recorded_only_once_something_exports_them():
    provider = _ServiceTracerProvider(resource=Resource.create({"service.name": "quiet"}))
    tracer = provider.get_tracer("t")
    incoming = trace.set_span_in_context(
        trace.NonRecordingSpan(
            trace.SpanContext(
                int(INCOMING_TRACE, 16),
                int(INCOMING_PARENT, 16),
                is_remote=True,
                trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
            )
        )
    )
    with tracer.start_as_current_span("unexported", context=incoming) as span:
        # Nothing recorded, but the ids that logs and event metadata carry are there.
        assert not span.is_recording()
        context = span.get_span_context()
        assert context.is_valid
        assert trace.format_trace_id(context.trace_id) == INCOMING_TRACE
        assert current_traceparent() is not None

    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracer.start_as_current_span("exported", context=incoming) as span:
        assert span.is_recording()
    assert [s.name for s in exporter.get_finished_spans()] == ["exported"]
    assert exporter.get_finished_spans()[0].context.trace_id == int(INCOMING_TRACE, 16)
