"""Committed histories of real cases replay against the current workflow code.

A change that would break a case already running (a command added, removed or
reordered without `workflow.patched`) fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from domain.lifecycle import EventKind
from worker import SANDBOX
from workflows.case import CaseWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _recorded_kinds(path: Path) -> set[str]:
    """The timeline event kinds a history recorded, read from its record_transition inputs."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    kinds = set()
    for event in history.events:
        scheduled = event.activity_task_scheduled_event_attributes
        if event.HasField("activity_task_scheduled_event_attributes") and scheduled.activity_type.name == "record_transition":
            kinds.add(json.loads(scheduled.input.payloads[0].data)["kind"])
    return kinds


def test_histories_cover_every_path() -> None:
    recorded = set().union(*(_recorded_kinds(path) for path in HISTORIES))
    # Every way a case can move, end or loop has a history guarding it.
    assert {kind.value for kind in EventKind} <= recorded


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=pydantic_data_converter, workflow_runner=SANDBOX)
    await replayer.replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))
