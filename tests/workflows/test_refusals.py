"""Refusals are one vocabulary: the workflow raises only `Refusal` values and api/ maps each."""

from __future__ import annotations

import ast
from pathlib import Path

from api.deps import _REFUSALS
from domain.refusals import Refusal

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def test_every_refusal_has_an_http_status() -> None:
    assert set(_REFUSALS) == set(Refusal)
    assert _REFUSALS[Refusal.NOT_PERMITTED][0] == 403 and _REFUSALS[Refusal.ACTION_NOT_ALLOWED][0] == 409


def test_no_workflow_module_raises_an_error_type_as_a_string() -> None:
    typed = []
    for path in WORKFLOWS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "type" and isinstance(node.value, ast.Constant):
                typed.append(f"{path.relative_to(WORKFLOWS)}:{node.value.lineno}")
    assert typed == []
