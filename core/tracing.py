"""OpenTelemetry traces: API -> Temporal client -> workflow -> activities -> database.

Off unless the standard OpenTelemetry environment asks for it: `OTEL_EXPORTER_OTLP_ENDPOINT`
(or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, or `OTEL_TRACES_EXPORTER` set to `otlp` or
`console`; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` keep it off. Everything
else (headers, sampler, service name, resource attributes, timeouts) is read by the
OpenTelemetry SDK from its own `OTEL_*` variables; spans go out over OTLP/HTTP (protobuf).

When on, the pieces are:
- FastAPI's server spans, named by route template (`POST /cases`), never the raw path;
- Temporal's `TracingInterceptor` on the client, which the worker inherits: the span of the
  request continues into StartWorkflow / UpdateWorkflow, RunWorkflow and StartActivity /
  RunActivity (headers carry the context through Temporal);
- SQLAlchemy's spans for each statement (the SQL text with placeholders; the engine hides
  parameters, which hold personal data).

Every span leaves the process through core/trace_masking.py's `MaskingSpanExporter`: phone numbers
and e-mail addresses in its name, attributes, status and events (an exception's message and stack
trace) go out masked as the logs mask them (core/logs.py), including a path or query a caller typed
a phone number into by mistake (`GET /cases/13976543210`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

# Scrapes and probes would be most of the spans and say nothing.
UNTRACED_URLS = "/metrics,/healthz"

_on = False


def tracing_wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the OTEL_* environment asks for traces (see the module's docstring)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def start_tracing(service_name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Install the process's tracer provider from the OTEL_* environment; True when tracing is on.

    `service_name` (aftersales-api, aftersales-worker) applies unless OTEL_SERVICE_NAME says otherwise."""
    if _on:
        return True
    if not tracing_wanted(environ):
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    from core.trace_masking import MaskingSpanExporter

    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter: SpanExporter
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()  # endpoint, headers, timeout from OTEL_EXPORTER_OTLP_*
    provider.add_span_processor(BatchSpanProcessor(MaskingSpanExporter(exporter)))
    trace.set_tracer_provider(provider)
    turn_on()
    log.info("tracing on: spans exported with %s", type(exporter).__name__)
    return True


def turn_on() -> None:
    """Trace with whatever tracer provider is installed (a test installs one with an in-memory exporter)."""
    global _on
    _on = True


def tracing_on() -> bool:
    return _on


def client_interceptors() -> list[Any]:
    """For `Client.connect`: the worker built on that client traces workflows and activities too."""
    if not _on:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def trace_app(app: FastAPI) -> None:
    if _on:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, excluded_urls=UNTRACED_URLS)


def trace_engine(engine: AsyncEngine) -> None:
    """Spans for the statements of the process's database engine."""
    if not _on:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        # One engine per process is traced (the API's, the worker's; `aftersales dev` shares one).
        return
    # The instrumentation declares SQLAlchemy < 2.1 (its version check, not its code: the engine
    # events it listens to are the same in 2.1); tests/e2e/test_tracing.py sees the statements.
    instrumentor.instrument(engine=engine.sync_engine, skip_dep_check=True)
