"""workflows/case/patches.py lists every patch id with the first baseline that recorded it."""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path

from tests.support.histories import baselines as recorded_baselines
from workflows.case import patches

ROOT = Path(__file__).resolve().parents[2]


def _patch_ids() -> set[str]:
    return {value for name, value in vars(patches).items() if name.isupper() and isinstance(value, str)}


def _patch_id(data: dict) -> str:
    """The patch id in a patch marker's `patch-data` detail."""
    return json.loads(base64.b64decode(data["payloads"][0]["data"]))["id"]


def _markers_of(history: Path) -> set[str]:
    found = set()
    for event in json.loads(history.read_text(encoding="utf-8"))["events"]:
        marker = event.get("markerRecordedEventAttributes")
        data = marker and marker["details"].get("patch-data")
        if data:
            found.add(_patch_id(data))
    return found


def _markers(baseline: Path) -> set[str]:
    return set().union(*(_markers_of(history) for history in baseline.glob("*.json")))


def test_every_patched_call_names_a_listed_id() -> None:
    listed = {name for name, value in vars(patches).items() if name.isupper() and isinstance(value, str)}
    asked = set()
    for path in (ROOT / "workflows").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = (
                getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                if isinstance(node, ast.Call)
                else None
            )
            if called in ("patched", "deprecate_patch"):
                if path.name == "workflow.py" and getattr(node.args[0], "id", None) == "patch":
                    continue  # the run asks ASKED_AT_START in a loop (PATCHES_AT_START)
                if path.name == "patches.py" and getattr(node.args[0], "id", None) == "patch_id":
                    continue  # patches.patched, which every call site goes through
                assert isinstance(node.args[0], ast.Name), f"{path}:{node.lineno}: a patch id by its constant"
                asked.add(node.args[0].id)
    assert asked == listed
    assert set(patches.BASELINES) == _patch_ids()
    assert _patch_ids() - {patches.PATCHES_BUNDLED} == patches.BUNDLED


def test_each_id_first_appears_in_the_baseline_listed() -> None:
    baselines = recorded_baselines()
    markers = {b.name: _markers(b) for b in baselines}
    for patch_id, first in patches.BASELINES.items():
        carrying = [name for name, ids in markers.items() if patch_id in ids]
        assert (carrying[0] if carrying else None) == first, patch_id


def test_no_patch_is_first_asked_after_a_local_activity_in_the_newest_baseline() -> None:
    """Replay could ask such a patch before reading its marker (patches.PATCHES_AT_START): a
    patch whose change follows a local activity goes in ASKED_AT_START."""
    newest = recorded_baselines()[-1]
    assert patches.PATCHES_BUNDLED in _markers(newest), newest.name
    for history in sorted(newest.glob("*.json")):
        tasks_with_a_local_activity = set()
        for event in json.loads(history.read_text(encoding="utf-8"))["events"]:
            marker = event.get("markerRecordedEventAttributes")
            if not marker:
                continue
            task = marker["workflowTaskCompletedEventId"]
            data = marker["details"].get("patch-data")
            if marker["markerName"] == "core_local_activity":
                tasks_with_a_local_activity.add(task)
            elif data and task in tasks_with_a_local_activity:
                raise AssertionError(f"{history.name}: {_patch_id(data)} asked after a local activity in task {task}")


def test_a_new_run_carries_one_marker_for_the_bundled_patches() -> None:
    """Each history of the newest baseline was recorded by new runs: PATCHES_BUNDLED's marker,
    and none of the ids it answers for (each would cost a marker and an upsert)."""
    newest = recorded_baselines()[-1]
    for history in sorted(newest.glob("*.json")):
        markers = _markers_of(history)
        assert patches.PATCHES_BUNDLED in markers, history.name
        assert not markers & patches.BUNDLED, f"{history.name}: {sorted(markers & patches.BUNDLED)}"
