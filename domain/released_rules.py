"""The pinned rules this code has built in, as released: a case pinned to one carries its
version and digest instead of the whole (issue 19 §4: the default SLA policy and handling
rules were 3 KB of every case's start input), and the worker reads them back from here.

A released entry never changes: a case started on it replays from it for as long as the case
lives. A new default is a new version, added beside the old ones (tests/domain/
test_released_rules.py fails if a default changes under a released version). A start whose
digest is not the one here is refused when it is read (`resolve`): a worker that cannot
rebuild the rules a case was pinned to must not run it.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from pydantic import BaseModel

from domain.handling import HandlingRules
from domain.sla import SlaPolicy

KINDS: dict[str, type[BaseModel]] = {"policy": SlaPolicy, "rules": HandlingRules}

# (kind, version) -> the rules as released, in JSON (model_dump_json).
RELEASED: dict[tuple[str, str], str] = {
    ("policy", "2026-11-follow-up"): (
        '{"version":"2026-11-follow-up","targets":{"P1":{"approval":{"budget":"PT2H","business":false},"first_reply":{"budget":"PT15M","business":false},"respond":{"budget":"PT2H","business":false},"plan":{"budget":"P1D","business":false},"resolution":{"budget":"P3D","business":false},"survey":{"budget":"P3D","business":false},"result":{"budget":"PT9H","business":true},"call_back":{"budget":"PT9H","business":true},"fix_check":{"budget":"P1DT3H","business":true}},"P2":{"approval":{"budget":"PT4H","business":true},"first_reply":{"budget":"PT30M","business":false},"respond":{"budget":"PT4H","business":true},"plan":{"budget":"PT18H","business":true},"resolution":{"budget":"P1DT21H","business":true},"survey":{"budget":"P3D","business":false},"result":{"budget":"PT9H","business":true},"call_back":{"budget":"PT9H","business":true},"fix_check":{"budget":"P1DT3H","business":true}},"P3":{"approval":{"budget":"PT9H","business":true},"first_reply":{"budget":"PT30M","business":false},"respond":{"budget":"PT8H","business":true},"resolution":{"budget":"P1DT3H","business":true},"survey":{"budget":"P3D","business":false},"result":{"budget":"PT9H","business":true},"call_back":{"budget":"PT9H","business":true},"fix_check":{"budget":"P1DT3H","business":true}},"P4":{"approval":{"budget":"PT9H","business":true},"first_reply":{"budget":"PT30M","business":false},"respond":{"budget":"PT9H","business":true},"resolution":{"budget":"P1DT21H","business":true},"survey":{"budget":"P3D","business":false},"result":{"budget":"PT9H","business":true},"call_back":{"budget":"PT9H","business":true},"fix_check":{"budget":"P1DT3H","business":true}}},"overrides":[{"clock":"first_reply","tier":"vip","channel":"phone","priority":null,"target":{"budget":"PT5M","business":false}},{"clock":"first_reply","tier":null,"channel":"email","priority":null,"target":{"budget":"P1D","business":false}}],"update_every":{"budget":"PT9H","business":true},"urgent_update_every":{"budget":"PT12H","business":false},"warn_at":[0.75,0.9],"ladder":["supervisor","head"],"climb_after":{"budget":"PT4H","business":false},"extension_limits":[{"clock":"resolution","priority":"P3","max_budget":{"budget":"P2DT15H","business":true}}]}'
    ),
    ("rules", "2026-11-follow-up"): (
        '{"version":"2026-11-follow-up","compensation_cap_percent":"30","reopen_limit":3,"head_approves":["P1","P2"],"rejections_before_head":2,"return_deadlines":{"shipment":{"budget":"PT9H","business":true},"receipt":{"budget":"PT18H","business":true},"inspection":{"budget":"PT9H","business":true},"restock":{"budget":"PT9H","business":true},"repair":{"budget":"P1DT21H","business":true},"ship_back":{"budget":"PT9H","business":true}},"exchange_choice_reminder_after":{"budget":"P1DT3H","business":true},"exchange_choice_default_after":{"budget":"PT18H","business":true},"fix_check_after_days":7,"contribution_due":{"P1":{"budget":"PT8H","business":false},"P2":{"budget":"PT9H","business":true},"P3":{"budget":"PT18H","business":true},"P4":{"budget":"PT18H","business":true}}}'
    ),
}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@cache
def _released(kind: str, version: str) -> tuple[BaseModel, str] | None:
    text = RELEASED.get((kind, version))
    return None if text is None else (KINDS[kind].model_validate_json(text), digest(text))


def reference(kind: str, rules: BaseModel) -> dict[str, str] | None:
    """`{version, digest}` when `rules` are a released built-in, else None (carried in full)."""
    version = getattr(rules, "version", None)
    if not isinstance(version, str):
        return None
    released = _released(kind, version)
    if released is None or released[0] != rules:
        return None
    return {"version": version, "digest": released[1]}


def resolve(kind: str, ref: Any) -> BaseModel:
    """The released rules a reference names, a copy the case may own; ValueError if this code
    does not have them as the case was pinned to them."""
    released = _released(kind, ref.get("version", "")) if isinstance(ref, dict) else None
    if released is None or released[1] != ref.get("digest"):
        raise ValueError(f"{kind} {ref!r}: not released in this code (domain/released_rules.py)")
    return released[0].model_copy(deep=True)
