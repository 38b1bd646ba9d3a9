"""workflows/case/patches.py lists every patch id with the first baseline that recorded it."""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path

from workflows.case import patches

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = ROOT / "tests" / "histories"


def _patch_ids() -> set[str]:
    return {value for name, value in vars(patches).items() if name.isupper() and isinstance(value, str)}


def _markers(baseline: Path) -> set[str]:
    found = set()
    for history in baseline.glob("*.json"):
        for event in json.loads(history.read_text(encoding="utf-8"))["events"]:
            marker = event.get("markerRecordedEventAttributes")
            data = marker and marker["details"].get("patch-data")
            if data:
                found.add(json.loads(base64.b64decode(data["payloads"][0]["data"]))["id"])
    return found


def test_every_patched_call_names_a_listed_id() -> None:
    listed = {name for name, value in vars(patches).items() if name.isupper() and isinstance(value, str)}
    asked = set()
    for path in (ROOT / "workflows").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("patched", "deprecate_patch"):
                assert isinstance(node.args[0], ast.Name), f"{path}:{node.lineno}: a patch id by its constant"
                asked.add(node.args[0].id)
    assert asked == listed
    assert set(patches.BASELINES) == _patch_ids()


def test_each_id_first_appears_in_the_baseline_listed() -> None:
    baselines = sorted(p for p in HISTORIES.iterdir() if p.is_dir())
    markers = {b.name: _markers(b) for b in baselines}
    for patch_id, first in patches.BASELINES.items():
        carrying = [name for name, ids in markers.items() if patch_id in ids]
        assert (carrying[0] if carrying else None) == first, patch_id
