"""One trace from `POST /cases` to the database write of its receipt (issue 16, part 2).

Tracing is on as OTEL_* would turn it on (core/tracing.py), with OpenTelemetry's in-memory
exporter in place of OTLP: the API's FastAPI span, the Temporal client's update-with-start,
the workflow, the `record_transition` activity and its SQL statements share one trace, each
span the child of the one before. Nothing personal is in any span's name or attributes.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

import core.tracing
from api.app import create_app
from core.settings import Settings
from core.temporal_client import connect
from core.trace_masking import MaskingSpanExporter
from core.tracing import tracing_wanted
from store.cases import CaseStore
from store.db import create_engine, session_factory
from store.migrate import upgrade
from tests.support.people import AGENT, TEST_JWT_SECRET, intake
from tests.support.workers import in_process_worker

CUSTOMER = {"name": "欧阳娜娜", "phone": "+86 139 7654 3210", "email": "nana.ouyang@example.org"}


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test, into memory. The process keeps its one global tracer provider
    (OpenTelemetry sets it once); the exporter is this test's."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(MaskingSpanExporter(exporter))  # masked as start_tracing exports
    provider.add_span_processor(processor)
    monkeypatch.setattr(core.tracing, "_on", True)
    try:
        yield exporter
    finally:
        processor.shutdown()  # this test's exporter takes nothing more
        if SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry:
            SQLAlchemyInstrumentor().uninstrument()


def test_tracing_is_off_unless_the_environment_asks() -> None:
    assert not tracing_wanted({})
    assert tracing_wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_wanted({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not tracing_wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert not tracing_wanted({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})


async def test_one_trace_from_post_cases_to_the_record(
    env: WorkflowEnvironment, tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    settings = Settings(
        temporal_address=env.client.service_client.config.target_host,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cases.db'}",
        task_queue="tracing-e2e",
        case_number_prefix="TR",
        jwt_secret=TEST_JWT_SECRET,
        rate_limit="",
    )
    engine = create_engine(settings.effective_database_url)
    await upgrade(engine)
    core.tracing.trace_engine(engine)
    try:
        client = await connect(settings)  # with the tracing interceptor, which the worker inherits
        sessions = session_factory(engine)
        app = create_app(settings, temporal=client, sessions=sessions)
        async with (
            in_process_worker(client, CaseStore(sessions, "TR"), settings.task_queue),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test") as api,
        ):
            response = await api.post("/cases", json=intake(customer=CUSTOMER), headers=AGENT)
            assert response.status_code == 201, response.text
            number = response.json()["number"]
            # A caller that puts a phone number in the path (by mistake) has it masked in the trace too.
            assert (await api.get("/cases/13976543210", headers=AGENT)).status_code == 404
            for _ in range(200):
                if any(s.name == "RunActivity:record_transition" for s in spans.get_finished_spans()):
                    break
                await asyncio.sleep(0.05)
    finally:
        await engine.dispose()

    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}

    def one(name: str) -> ReadableSpan:
        found = [s for s in finished if s.name == name]
        assert found, (name, sorted({s.name for s in finished}))
        return found[0]

    request = one("POST /cases")
    start = one("StartUpdateWithStartWorkflow:CaseWorkflow")
    run = one("RunWorkflow:CaseWorkflow")
    record = one("RunActivity:record_transition")

    def ancestors(span: ReadableSpan) -> list[str]:
        chain = []
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            chain.append(span.name)
        return chain

    trace_id = request.context.trace_id
    assert {start.context.trace_id, run.context.trace_id, record.context.trace_id} == {trace_id}
    # The activity runs under the workflow, the workflow under the client's call, that under the request.
    assert "POST /cases" in ancestors(start)
    assert "RunWorkflow:CaseWorkflow" in ancestors(record) or "StartActivity:record_transition" in ancestors(record)
    assert "POST /cases" in ancestors(record)
    statements = [s for s in finished if s.parent is not None and s.parent.span_id == record.context.span_id]
    assert any(s.attributes and "INSERT" in str(s.attributes.get("db.statement", "")) for s in statements), [
        (s.name, dict(s.attributes or {})) for s in statements
    ]

    assert any(s.name == "GET /cases/{number}" for s in finished)
    # Nothing personal (nor the case number in a span's name) in the trace.
    for span in finished:
        assert not _personal(span), (span.name, dict(span.attributes or {}))
        assert number not in span.name


def _personal(span: ReadableSpan) -> list[str]:
    """The pieces of CUSTOMER anywhere in what the span exports: name, attributes, status, events."""
    text = repr((span.name, span.attributes, span.status.description, [(e.name, e.attributes) for e in span.events]))
    return [p for p in ("欧阳", "13976543210", "9765", "nana.ouyang") if p in text]


def test_an_exception_recorded_on_a_span_is_exported_masked() -> None:
    """An exception's message and stack trace hold what the code put there (a customer's phone
    number and e-mail address, say); they leave the process masked like everything else."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # this test's own: the process's global one is left alone
    provider.add_span_processor(SimpleSpanProcessor(MaskingSpanExporter(exporter)))
    tracer = provider.get_tracer("test")
    message = f"查不到客户 {CUSTOMER['phone']} / {CUSTOMER['email']} 的订单"
    # As instrumentation does it: the exception leaves the span, which records it and sets ERROR.
    with pytest.raises(LookupError), tracer.start_as_current_span("GET /orders"):
        raise LookupError(message)
    # As code does it by hand, with attributes of its own.
    with tracer.start_as_current_span("lookup") as span:
        span.record_exception(LookupError(message), attributes={"lookup.customer": CUSTOMER["email"]})
    provider.shutdown()

    raised, recorded = exporter.get_finished_spans()
    masked = "查不到客户 *******3210 / n***@example.org 的订单"
    assert raised.status.description == f"LookupError: {masked}"
    for span in (raised, recorded):
        assert [e.name for e in span.events] == ["exception"]
        event = dict(span.events[0].attributes or {})
        assert event["exception.type"] == "LookupError"
        assert event["exception.message"] == masked
        assert not _personal(span), (span.status.description, event)
    assert f"LookupError: {masked}" in dict(raised.events[0].attributes or {})["exception.stacktrace"]
    assert dict(recorded.events[0].attributes or {})["lookup.customer"] == "n***@example.org"


def test_the_otel_environment_installs_an_exporting_provider(tmp_path: Path) -> None:
    """`start_tracing` as a process runs it (it sets the process's one tracer provider, so in a child):
    OTEL_TRACES_EXPORTER=console prints the spans; an OTLP endpoint gets the OTLP exporter."""
    script = (
        "import sys\n"
        "from opentelemetry import trace\n"
        "from core.tracing import start_tracing, tracing_on\n"
        "assert start_tracing('aftersales-test') and tracing_on()\n"
        "with trace.get_tracer('t').start_as_current_span('probe', attributes={'who': '+86 139 7654 3210'}):\n"
        "    pass\n"
        "trace.get_tracer_provider().shutdown()\n"
    )
    console = _python(script, {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "probe-service"})
    assert console.returncode == 0, console.stderr
    assert '"name": "probe"' in console.stdout and "probe-service" in console.stdout
    # Masked on export. " 7654 " with its spaces: the trace and span ids are hex and may hold 7654.
    assert " 7654 " not in console.stdout and "3210" in console.stdout
    otlp = _python(
        script.replace("trace.get_tracer_provider().shutdown()\n", "")
        + "from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter\n"
        + "from core.trace_masking import MaskingSpanExporter\n"
        + "exporters = [p.span_exporter for p in trace.get_tracer_provider()._active_span_processor._span_processors"
        + " if hasattr(p, 'span_exporter')]\n"
        # Every exporter masks what it sends: the OTLP one is reached only through the masking one.
        + "assert all(isinstance(e, MaskingSpanExporter) for e in exporters), exporters\n"
        + "assert any(isinstance(e.exporter, OTLPSpanExporter) for e in exporters), exporters\n",
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_BSP_SCHEDULE_DELAY": "60000"},
    )
    assert otlp.returncode == 0, otlp.stderr


def _python(script: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`script` in a fresh interpreter at the project's root, with `environment` added."""
    return subprocess.run(
        [sys.executable, "-c", script],
        env=os.environ | environment,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
