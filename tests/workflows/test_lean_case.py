"""The lean case (issue 19 §4): what a case keeps in its history is what it needs.

Updates answer the view without its defaults, which every caller reads back as the same
`CaseView`; search attributes are upserted only when they change (patch
changed-search-attributes); the pinned rules go by reference (tests/domain/test_released_rules.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from domain.records import Transition
from domain.state import CaseView
from tests.conftest import Database
from tests.support.api import post
from tests.support.histories import HISTORIES, baselines, version
from tests.support.people import AGENT, HANDLER, TRIAGE, intake
from workflows.case.base import answer
from workflows.case.patches import PATCHES_BUNDLED


def _answers(baseline: Path) -> list[bytes]:
    found = []
    for path in sorted(baseline.glob("*.json")):
        for event in json.loads(path.read_text(encoding="utf-8"))["events"]:
            done = event.get("workflowExecutionUpdateCompletedEventAttributes")
            payloads = done and done["outcome"].get("success", {}).get("payloads")
            if payloads:
                found.append(base64.b64decode(payloads[0]["data"]))
    return found


def test_every_recorded_answer_reads_back_the_same_from_its_lean_form() -> None:
    # The full views older baselines answered with, in every state the recorded paths reach.
    full = [answer for baseline in baselines() if version(baseline) < 8 for answer in _answers(baseline)]
    assert len(full) > 1000
    for data in full:
        view = CaseView.model_validate_json(data)
        lean = view.model_dump(mode="json", exclude_defaults=True)
        assert len(json.dumps(lean)) < len(data)
        assert CaseView.model_validate(lean) == view


def test_the_answer_is_the_view_without_its_defaults() -> None:
    view = CaseView.model_validate_json(_answers(HISTORIES / "v7-continued-case")[-1])
    lean = answer(SimpleNamespace(view=lambda: view))  # type: ignore[arg-type]  # answer() asks only view()
    defaults = {
        name
        for name, field in CaseView.model_fields.items()
        if getattr(view, name) == field.get_default(call_default_factory=True)
    }
    assert defaults and not defaults & set(lean)
    assert CaseView.model_validate(lean) == view


async def test_search_attributes_are_upserted_only_when_they_change(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    opened = await post(api, "/cases", intake(), AGENT)
    number = opened["number"]
    await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
    accepted = await post(api, f"/cases/{number}/accept", None, HANDLER)
    assert accepted["stage"] == "in_handling" and accepted["clocks"]  # the whole view, as before
    history = await env.client.get_workflow_handle(number).fetch_history()
    converter = DataConverter.default.payload_converter
    held: dict[str, Any] = {}
    upserts = 0
    versions = []  # the SDK's TemporalChangeVersion, upserted with each patch marker
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            continue
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        if "TemporalChangeVersion" in fields:
            versions.append(converter.from_payload(fields["TemporalChangeVersion"]))
        ours = {
            name: converter.from_payload(p) if p.data else None  # an unset one is an empty payload
            for name, p in fields.items()
            if name != "TemporalChangeVersion"  # the SDK's, with each patch marker
        }
        for name, value in ours.items():
            assert name not in held or held[name] != value, f"{name} upserted unchanged: {value!r}"
            held[name] = value
        upserts += bool(ours)
    # Eleven attributes at each of the first five upserts before the patch; now only what changed,
    # and a new case unsets nothing it never had.
    assert None not in held.values()
    assert upserts <= 5
    assert held["CaseStage"] == "in_handling" and held["Assignee"] == accepted["assignee"]
    # One patch marker for every patch so far (patches.PATCHES_BUNDLED), not one each.
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    patch_markers = [e for e in markers if e.marker_recorded_event_attributes.marker_name == "core_patch"]
    assert len(patch_markers) == 1
    assert versions == [[PATCHES_BUNDLED]]


def _record_inputs(baseline: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(baseline.glob("*.json")):
        for event in json.loads(path.read_text(encoding="utf-8"))["events"]:
            scheduled = event.get("activityTaskScheduledEventAttributes")
            if scheduled and scheduled["activityType"]["name"] == "record_transition":
                found.append(json.loads(base64.b64decode(scheduled["input"]["payloads"][0]["data"])))
    return found


def test_every_recorded_snapshot_reads_back_the_same_from_its_lean_form() -> None:
    # The snapshots the baselines before the leaner records wrote in full (nulls and zeros
    # included), in every state reached; v12 on writes them lean.
    sent = [t for baseline in baselines() if 8 <= version(baseline) < 12 for t in _record_inputs(baseline)]
    assert len(sent) > 500
    shorter = 0
    for data in sent:
        transition = Transition.model_validate(data)
        lean = transition.model_dump(mode="json", exclude_defaults=True)
        assert Transition.model_validate(lean) == transition
        shorter += len(json.dumps(lean["snapshot"])) < len(json.dumps(data["snapshot"]))
    assert shorter == len(sent)  # every snapshot has a field at its default, on the way to closed


async def test_a_regular_record_keeps_its_snapshot_lean_and_its_result_short(
    api: httpx.AsyncClient, database: Database, env: WorkflowEnvironment, worker: str
) -> None:
    number = (await post(api, "/cases", intake(), AGENT))["number"]
    await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
    history = await env.client.get_workflow_handle(number).fetch_history()
    scheduled = {}
    results = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == "record_transition":
                scheduled[event.event_id] = json.loads(attributes.input.payloads[0].data)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            if done.scheduled_event_id in scheduled:
                results.append((scheduled[done.scheduled_event_id], json.loads(done.result.payloads[0].data)))
    [(triaged, result)] = results
    assert triaged["kind"] == "triaged"
    # Triaged, not yet accepted, escalated, reopened or closed: none of those go in the input.
    assert not {"assignee", "outcome", "closed_at", "reopen_count", "escalation_level"} & set(triaged["snapshot"])
    assert triaged["snapshot"]["stage"] == "triaged" and triaged["snapshot"]["department"] == "quality"
    # The input beside it names the event; the result says only whether it was written.
    assert result == {"seq": triaged["seq"], "written": True}
    row = await database.store.get_case(number)
    assert row is not None and row.assignee is None and row.reopen_count == 0 and row.stage == "triaged"
