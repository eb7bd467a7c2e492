"""One HTTP command, one trace: HTTP → event append → relay publish → another service.

Two services run in this process against a real nats-server: a producer whose command
endpoint appends an event, and a consumer service whose ConsumerRuntime handles it. The
spans are captured with an in-memory exporter and their relations checked.
"""

import uuid
from typing import ClassVar

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from mentorship_contracts import CloudEvent, EventContract, registry
from mentorship_kit.app import ServiceSpec, create_app
from mentorship_kit.auth import issue_dev_token
from mentorship_kit.commands import CommandTransaction
from mentorship_kit.consumer import ConsumerRuntime
from mentorship_kit.endpoints import CommandDep
from mentorship_kit.eventstore import kit_metadata
from mentorship_kit.settings import DEFAULT_DEV_SECRET, ServiceSettings
from mentorship_kit.telemetry import configure_tracing
from mentorship_kit.testing import wait_until

PRODUCER = "traceprod"
CONSUMER = "tracecons"
ADMIN = {"Authorization": f"Bearer {issue_dev_token(DEFAULT_DEV_SECRET, role='admin', sub='a')}"}


class WidgetMade(EventContract):
    service: ClassVar[str] = PRODUCER
    aggregate: ClassVar[str] = "widget"
    action: ClassVar[str] = "made"
    widget_id: str


if not registry().knows("WidgetMade"):
    registry().register(WidgetMade)


class Made(BaseModel):
    widget_id: str


def widget_router() -> APIRouter:
    router = APIRouter()

    @router.post("/v1/widgets", status_code=201)
    async def make(command: CommandDep) -> Made:
        widget_id = f"widget-{uuid.uuid4()}"

        async def use_case(tx: CommandTransaction) -> str:
            await tx.append(widget_id, [WidgetMade(widget_id=widget_id)], expected_version=0)
            return widget_id

        made: Made = await command.execute(
            use_case, present=lambda w: Made(widget_id=w), status_code=201
        )
        return made

    return router


@pytest.fixture
def spans():
    provider = configure_tracing("tracing-test", "0")
    assert isinstance(provider, TracerProvider)
    assert trace.get_tracer_provider() is provider
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


async def test_one_command_is_one_trace_across_services(tmp_path, nats_server, spans):
    handled: list[CloudEvent] = []

    async def handle(_conn, event: CloudEvent) -> None:
        handled.append(event)

    def settings(name: str) -> ServiceSettings:
        return ServiceSettings(
            dev_mode=True,
            database_url=f"sqlite+aiosqlite:///{tmp_path / name}.db",
            nats_url=nats_server.url,
            log_level="WARNING",
        )

    producer = create_app(
        ServiceSpec(
            name=PRODUCER,
            title="producer",
            version="0",
            metadata=kit_metadata(),
            routers=[widget_router()],
        ),
        settings(PRODUCER),
    )
    consumer = create_app(
        ServiceSpec(
            name=CONSUMER,
            title="consumer",
            version="0",
            metadata=kit_metadata(),
            workers=[
                lambda ctx: ConsumerRuntime(
                    ctx.engine,
                    ctx.js,
                    consumer=f"{CONSUMER}-widgets",
                    source_service=PRODUCER,
                    handler=handle,
                )
            ],
        ),
        settings(CONSUMER),
    )
    transport = httpx.ASGITransport(app=producer)
    async with (
        producer.router.lifespan_context(producer),
        consumer.router.lifespan_context(consumer),
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
    ):
        response = await http.post("/v1/widgets", headers=ADMIN)
        assert response.status_code == 201
        widget_id = response.json()["widget_id"]
        await wait_until(
            lambda: any(e.subject == widget_id for e in handled),
            timeout=30,
            message="consumer handled the event",
        )

    finished = spans.get_finished_spans()
    [server] = [s for s in finished if s.kind == SpanKind.SERVER and "/v1/widgets" in s.name]
    trace_id = server.context.trace_id
    in_trace = [s for s in finished if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in in_trace}

    def descends_from(span, ancestor) -> bool:
        while span.parent is not None:
            if span.parent.span_id == ancestor.context.span_id:
                return True
            span = by_id.get(span.parent.span_id)
            if span is None:
                return False
        return False

    [append] = [s for s in in_trace if s.name == "eventstore.append"]
    assert append.attributes["mentorship.stream_id"] == widget_id
    assert descends_from(append, server)
    [publish] = [s for s in in_trace if s.kind == SpanKind.PRODUCER]
    assert "mentorship.traceprod.widget.made" in publish.name
    assert descends_from(publish, server)
    [handling] = [s for s in in_trace if s.kind == SpanKind.CONSUMER]
    assert handling.parent.span_id == publish.context.span_id
    assert handled[-1].traceparent is not None
