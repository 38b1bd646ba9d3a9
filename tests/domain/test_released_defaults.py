"""Defaults of what a case stores without them are released: a case's update answers and its
record activities' inputs and results leave out every field at its default (issue 19 §4, the lean case),
and the reader fills the default back in. A default changed later would change what an old
answer or a retried record of a running case means, so each one is pinned here: changing
one is a new field (or a patch), never an edit.

`RELEASED_DEFAULTS.json` beside this file is the pin; a new field adds a line to it
(`python -m tests.domain.test_released_defaults` prints the current table)."""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from domain.records import RecordedTransition, Transition
from domain.state import CaseView

PIN = Path(__file__).with_name("RELEASED_DEFAULTS.json")


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """`root` and every model its fields hold, however nested (lists, dicts, unions)."""
    seen: dict[str, type[BaseModel]] = {}

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation.__qualname__ in seen:
                return
            seen[annotation.__qualname__] = annotation
            for field in annotation.model_fields.values():
                walk(field.annotation)
            return
        for arg in typing.get_args(annotation):
            walk(arg)

    walk(root)
    return list(seen.values())


def current() -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for root in (Transition, RecordedTransition, CaseView):
        for model in _models(root):
            defaults = {}
            for name, field in model.model_fields.items():
                if field.default is not PydanticUndefined:
                    defaults[name] = repr(field.default)
                elif field.default_factory is not None:
                    defaults[name] = "factory: " + repr(field.default_factory())  # type: ignore[call-arg]
            table[f"{model.__module__}.{model.__qualname__}"] = defaults
    return dict(sorted(table.items()))


def test_every_default_left_out_of_history_is_as_released() -> None:
    pinned = json.loads(PIN.read_text(encoding="utf-8"))
    now = current()
    changed = {
        f"{model}.{name}": (pinned[model][name], value)
        for model, defaults in now.items()
        for name, value in defaults.items()
        if model in pinned and name in pinned[model] and pinned[model][name] != value
    }
    assert changed == {}, f"defaults changed under stored cases (pinned, now): {changed}"
    gone = {f"{model}.{name}" for model, defaults in pinned.items() for name in defaults} - {
        f"{model}.{name}" for model, defaults in now.items() for name in defaults
    }
    assert gone == set(), f"defaults removed (stored answers and inputs rely on them): {sorted(gone)}"
    added = {f"{m}.{n}" for m, d in now.items() for n in d} - {f"{m}.{n}" for m, d in pinned.items() for n in d}
    assert added == set(), f"new defaults: add them to {PIN.name} (python -m tests.domain.test_released_defaults)"


if __name__ == "__main__":
    json.dump(current(), sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    print()
