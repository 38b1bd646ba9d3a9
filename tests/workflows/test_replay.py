"""Committed histories of real cases replay against the current workflow code.

A change that would break a case already running (a command added, removed or
reordered without `workflow.patched`) fails here. Each directory of
`tests/histories/` is one baseline of the workflow code (recorded by
`scripts/record_histories.sh NAME`): v1 ran every side effect as a regular
activity, v2 records transitions as local activities (patch
`local-record-and-triage`), v3 adds approval by grade and execution routes, v4 returns and
repairs step by step, result and follow-up (fix check) and multi-department cases, v5 the
first reply timed by the suggested priority (patch `first-reply-by-priority`) and people's
actions recorded by a regular activity scheduled with the update's acceptance (patch
`record-after-accept`), ... v11 a new run's one patch marker answering for all earlier patches
(patch `bundle-2026-12`). The newest baseline must cover every way a case can move.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from domain.lifecycle import EventKind
from tests.support.histories import baselines
from worker import SANDBOX
from workflows.case import CaseWorkflow

BASELINES = baselines()
# Event kinds whose paths are tested (and listed in scripts/record_histories.sh) but not yet in
# a committed baseline: recorded by the next baseline.
AWAITING_BASELINE: set[EventKind] = set()


def _recorded_kinds(path: Path) -> set[str]:
    """The timeline event kinds a history recorded: from the inputs of regular
    record_transition activities, or from the results local ones left in markers."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    kinds = set()
    for event in history.events:
        scheduled = event.activity_task_scheduled_event_attributes
        if (
            event.HasField("activity_task_scheduled_event_attributes")
            and scheduled.activity_type.name == "record_transition"
        ):
            kinds.add(json.loads(scheduled.input.payloads[0].data)["kind"])
        marker = event.marker_recorded_event_attributes
        if event.HasField("marker_recorded_event_attributes") and marker.marker_name == "core_local_activity":
            data = json.loads(marker.details["data"].payloads[0].data)
            if data["activity_type"] == "record_transition" and marker.details["result"].payloads:
                kinds.add(json.loads(marker.details["result"].payloads[0].data)["kind"])
            # Due items recorded together (patch coalesce-due-items): a list of results.
            if data["activity_type"] == "record_transitions" and marker.details["result"].payloads:
                kinds.update(r["kind"] for r in json.loads(marker.details["result"].payloads[0].data))
    return kinds


def test_newest_histories_cover_every_path() -> None:
    # Every way a case can move, end or loop today has a history guarding it; older
    # baselines cover the paths their code had.
    newest = BASELINES[-1]
    recorded = set().union(*(_recorded_kinds(path) for path in newest.glob("*.json")))
    missing = {kind.value for kind in EventKind} - recorded - {kind.value for kind in AWAITING_BASELINE}
    assert missing == set(), f"no history in {newest.name} records these"


async def _histories(baseline: Path) -> AsyncIterator[WorkflowHistory]:
    for path in sorted(baseline.glob("*.json")):
        yield WorkflowHistory.from_json(path.stem, path.read_text())


@pytest.mark.parametrize("baseline", BASELINES, ids=[baseline.name for baseline in BASELINES])
async def test_every_history_of_a_baseline_replays(baseline: Path) -> None:
    # One replaying worker per baseline, not one per history (a worker's start-up was most of
    # a history's replay); each failure is named by its file.
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=pydantic_data_converter, workflow_runner=SANDBOX)
    failures, replayed = {}, 0
    async with replayer.workflow_replay_iterator(_histories(baseline)) as results:
        async for result in results:
            replayed += 1
            if result.replay_failure is not None:
                failures[f"{baseline.name}/{result.history.workflow_id}.json"] = repr(result.replay_failure)
    assert failures == {}
    assert replayed == len(list(baseline.glob("*.json"))) > 0
