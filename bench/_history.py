"""What one workflow history holds: its shape (updates, activities local and regular, timers) and
its cost (events, bytes, payload bytes and where they come from).

Used by tests/bench/test_bare_shape.py (the bare baseline has the product's shape) and by
bench/case_cost.py (what a case costs against bare). Works on the protobuf events of
`WorkflowHandle.fetch_history()`; the history's bytes are its serialized protobuf size, as
the server stores and sends it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import WorkflowHistory

LOCAL_ACTIVITY_MARKER = "core_local_activity"
PATCH_MARKER = "core_patch"


@dataclass(frozen=True)
class Shape:
    """What a reader can check against the code: the README's table of both sides."""

    updates: int
    local_activities: int
    regular_activities: int
    timers_started: int
    timers_canceled: int
    workflow_tasks: int
    search_attribute_upserts: int
    patch_markers: int
    completed: bool  # the workflow finished (bare used to archive and return; a case stays open at closed)


@dataclass
class Cost:
    events: int
    history_bytes: int
    payload_bytes: int
    workflow_tasks: int
    payload_bytes_per_task: float
    payload_bytes_by_source: dict[str, int] = field(default_factory=dict)
    # For JSON payloads: bytes per top-level field, per source (what a start input or a transition is made of).
    json_bytes_by_field: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _events(history: WorkflowHistory | list[HistoryEvent]) -> list[HistoryEvent]:
    return list(history.events) if isinstance(history, WorkflowHistory) else list(history)


def shape(history: WorkflowHistory | list[HistoryEvent]) -> Shape:
    kinds: Counter[int] = Counter()
    markers: Counter[str] = Counter()
    for e in _events(history):
        kinds[e.event_type] += 1
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            markers[e.marker_recorded_event_attributes.marker_name] += 1
    return Shape(
        updates=kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED],
        local_activities=markers[LOCAL_ACTIVITY_MARKER],
        regular_activities=kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
        timers_started=kinds[EventType.EVENT_TYPE_TIMER_STARTED],
        timers_canceled=kinds[EventType.EVENT_TYPE_TIMER_CANCELED],
        workflow_tasks=kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED],
        search_attribute_upserts=kinds[EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES],
        patch_markers=markers[PATCH_MARKER],
        completed=kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED] > 0,
    )


def _payloads(message: Message) -> Iterator[Payload]:
    """Every Payload inside `message`, however deep."""
    if isinstance(message, Payload):
        yield message
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if isinstance(value, Message):
            yield from _payloads(value)
        elif descriptor.message_type.GetOptions().map_entry:
            for item in value.values():
                if isinstance(item, Message):
                    yield from _payloads(item)
        else:
            for item in value:
                yield from _payloads(item)


def _fields(payload: Payload) -> dict[str, int]:
    """A JSON object's bytes per top-level field (what a payload is made of); {} for anything else."""
    if payload.metadata.get("encoding") != b"json/plain":
        return {}
    try:
        value = json.loads(payload.data)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {
        key: len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode()) for key, item in value.items()
    }


def _source(event: HistoryEvent, scheduled: dict[int, str]) -> str:
    """Where a payload comes from, named as the README's analysis names it."""
    kind = event.event_type
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        return "start input"
    if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return f"activity input: {event.activity_task_scheduled_event_attributes.activity_type.name}"
    if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
        name = scheduled.get(event.activity_task_completed_event_attributes.scheduled_event_id, "?")
        return f"activity result: {name}"
    if kind == EventType.EVENT_TYPE_MARKER_RECORDED:
        attributes = event.marker_recorded_event_attributes
        if attributes.marker_name == LOCAL_ACTIVITY_MARKER:
            return "local activity marker (its result)"
        return f"marker: {attributes.marker_name}"
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
        return "update input"
    if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
        return "update result"
    if kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
        return "search attributes"
    return EventType.Name(kind).removeprefix("EVENT_TYPE_").lower()


def cost(history: WorkflowHistory | list[HistoryEvent]) -> Cost:
    events = _events(history)
    scheduled: dict[int, str] = {}
    by_source: Counter[str] = Counter()
    fields: dict[str, Counter[str]] = {}
    for e in events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[e.event_id] = e.activity_task_scheduled_event_attributes.activity_type.name
        for payload in _payloads(e):
            source = _source(e, scheduled)
            by_source[source] += payload.ByteSize()
            fields.setdefault(source, Counter()).update(_fields(payload))
    tasks = sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    payload_bytes = sum(by_source.values())
    return Cost(
        events=len(events),
        history_bytes=History(events=events).ByteSize(),
        payload_bytes=payload_bytes,
        workflow_tasks=tasks,
        payload_bytes_per_task=round(payload_bytes / tasks, 1) if tasks else 0.0,
        payload_bytes_by_source=dict(by_source.most_common()),
        json_bytes_by_field={source: dict(c.most_common()) for source, c in fields.items() if c},
    )
