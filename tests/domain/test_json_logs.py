"""LOG_FORMAT=json: one JSON object a line, masked like every record, with the ids of the span
the record was written in."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from core.logs import JsonFormatter, install_masking


def test_a_json_line_carries_the_span_ids_and_stays_masked() -> None:
    install_masking()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("aftersales.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("outside any span for %s", "+86 139 7654 3210")
        tracer = TracerProvider().get_tracer(__name__)  # a provider of its own: the global one is untouched
        with tracer.start_as_current_span("work") as span:
            try:
                raise ValueError("mail nana.ouyang@example.org")
            except ValueError:
                logger.exception("failed for case %s", "AS-20261123-000001")
    finally:
        logger.removeHandler(handler)
    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert "7654" not in outside["message"] and outside["message"].endswith("3210")
    assert "trace_id" not in outside and outside["level"] == "INFO" and outside["logger"] == "aftersales.test.json"
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert inside["message"] == "failed for case AS-20261123-000001"
    assert "ValueError" in inside["exception"] and "nana.ouyang" not in inside["exception"]
