"""Spans leave the process masked: phone numbers and e-mail addresses in a span's name, attributes,
status, events and links go out as core/logs.py masks them in the logs.

Masking at export rather than at span start covers what is written after the start too: the
`exception` event (`exception.message`, `exception.stacktrace`) and the ERROR status description
that OpenTelemetry records when an exception leaves a span (FastAPI's, SQLAlchemy's, Temporal's,
or `record_exception`), and attributes set later (the request's path and query). A finished span is
immutable, so the exporter is handed a masked copy; counts of dropped attributes, events and links
are kept.

Imported by core/tracing.py only when tracing is on (it imports the OpenTelemetry SDK).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import AnyValue, Attributes

from core.logs import mask_text

_T = TypeVar("_T")


class MaskingSpanExporter(SpanExporter):
    """Hands `exporter` a masked copy of every span (see the module's docstring)."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.exporter.export([masked_span(span) for span in spans])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


def masked_span(span: ReadableSpan) -> ReadableSpan:
    events = [Event(e.name, _masked(e.attributes), e.timestamp) for e in span.events]
    links = [Link(link.context, _masked(link.attributes)) for link in span.links]
    status = span.status
    if status.description:
        status = Status(status.status_code, mask_text(status.description))
    return ReadableSpan(
        name=mask_text(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_masked(span.attributes),
        events=_bounded(events, span.dropped_events),
        links=_bounded(links, span.dropped_links),
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _masked(attributes: Attributes) -> Attributes:
    if not attributes:
        return attributes
    masked = BoundedAttributes(attributes={k: _mask_value(v) for k, v in attributes.items()}, immutable=True)
    if isinstance(attributes, BoundedAttributes):
        masked.dropped = attributes.dropped  # the exporters report how many were dropped
    return masked


def _mask_value(value: AnyValue) -> AnyValue:
    """Strings masked, also inside sequences and mappings (attribute values may nest)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, bytes):
        return tuple(_mask_value(v) for v in value)
    return value


def _bounded(items: list[_T], dropped: int) -> Sequence[_T]:
    if not dropped:
        return items
    bounded: BoundedList = BoundedList.from_seq(None, items)
    bounded.dropped = dropped
    return bounded
