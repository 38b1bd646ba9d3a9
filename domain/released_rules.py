"""The pinned rules this code has built in, as released: a case pinned to one carries its
version and digest instead of the whole (issue 19 §4: the default SLA policy, official
calendar and handling rules were 4.6 KB of every case's start input), and the worker reads
them back from here. Rules not released here (uploaded versions, a calendar file's, a year
not yet added) go in full as before.

A released entry never changes: a case started on it replays from it for as long as the case
lives. A new default is a new version, added beside the old ones (tests/domain/
test_released_rules.py fails if a default changes under a released version); a new year's
official calendar is added as `china_calendar([year, year + 1])` dumps it. A start whose
digest is not the one here is refused when it is read (`resolve`): a worker that cannot
rebuild the rules a case was pinned to must not run it.

A worker older than this module cannot read such a start: the rules' fields hold the word
"released" (BY_REFERENCE) where it expects the rules, so its workflow task fails and is
retried until a worker that has this module takes it (deploy workers before the API to avoid
the wait); it never runs the case on its model defaults, which for the calendar are the plain
office week (`BusinessCalendar()`), not the official days.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

from pydantic import BaseModel

from domain.calendar import BusinessCalendar
from domain.handling import HandlingRules
from domain.sla import SlaPolicy

BY_REFERENCE = "released"  # what a start carries in a field whose rules go by reference

KINDS: dict[str, type[BaseModel]] = {"policy": SlaPolicy, "rules": HandlingRules, "calendar": BusinessCalendar}

# The kinds whose model's defaults are this code's built-in (a calendar's built-in is mainland
# China's official days, core/calendar_sources.py, named after its content: "cn-" + digest).
DEFAULTS = ("policy", "rules")

# (kind, version) -> the rules as released, in JSON (model_dump_json).
RELEASED: dict[tuple[str, str], str] = {
    ("policy", "2026-11-follow-up"): (
        '{"version":"2026-11-follow-up","targets":{"P1":{"approval":{"budget":"PT2H","business":false},"first_reply":{"budget":"PT15M","business":false},"respond":{"budget":"PT2H","business":false},"plan":{"budget":"P1D","business":false},"resolution":{"budget":"P3D","business":false},"survey":{"budget":"P3D","business":false},"result":{"budget":"PT9H","business":true},"call_back":{"budget":"PT9H","business":true},"fix_check":{"budget":"P1DT3H","business":true}},"P2":{"approval":{"budget":"PT4H","business":true},"first_reply":{"budget":"PT30M","business":false},"respond":{"budget":"PT4H","business":true},"plan":{"budget":"PT18H","business":true},"resolution":{"budget":"P1DT21H","business":true},"survey":{"budget":"P3D","business":false},"result":{"budget":"PT9H","business":true},"call_back":{"budget":"PT9H","business":true},"fix_check":{"budget":"P1DT3H","business":true}},"P3":{"approval":{"budget":"PT9H","business":true},"first_reply":{"budget":"PT30M","business":false},"respond":{"budget":"PT8H","business":true},"resolution":{"budget":"P1DT3H","business":true},"survey":{"budget":"P3D","business":false},"result":{"budget":"PT9H","business":true},"call_back":{"budget":"PT9H","business":true},"fix_check":{"budget":"P1DT3H","business":true}},"P4":{"approval":{"budget":"PT9H","business":true},"first_reply":{"budget":"PT30M","business":false},"respond":{"budget":"PT9H","business":true},"resolution":{"budget":"P1DT21H","business":true},"survey":{"budget":"P3D","business":false},"result":{"budget":"PT9H","business":true},"call_back":{"budget":"PT9H","business":true},"fix_check":{"budget":"P1DT3H","business":true}}},"overrides":[{"clock":"first_reply","tier":"vip","channel":"phone","priority":null,"target":{"budget":"PT5M","business":false}},{"clock":"first_reply","tier":null,"channel":"email","priority":null,"target":{"budget":"P1D","business":false}}],"update_every":{"budget":"PT9H","business":true},"urgent_update_every":{"budget":"PT12H","business":false},"warn_at":[0.75,0.9],"ladder":["supervisor","head"],"climb_after":{"budget":"PT4H","business":false},"extension_limits":[{"clock":"resolution","priority":"P3","max_budget":{"budget":"P2DT15H","business":true}}]}'
    ),
    ("rules", "2026-11-follow-up"): (
        '{"version":"2026-11-follow-up","compensation_cap_percent":"30","reopen_limit":3,"head_approves":["P1","P2"],"rejections_before_head":2,"return_deadlines":{"shipment":{"budget":"PT9H","business":true},"receipt":{"budget":"PT18H","business":true},"inspection":{"budget":"PT9H","business":true},"restock":{"budget":"PT9H","business":true},"repair":{"budget":"P1DT21H","business":true},"ship_back":{"budget":"PT9H","business":true}},"exchange_choice_reminder_after":{"budget":"P1DT3H","business":true},"exchange_choice_default_after":{"budget":"PT18H","business":true},"fix_check_after_days":7,"contribution_due":{"P1":{"budget":"PT8H","business":false},"P2":{"budget":"PT9H","business":true},"P3":{"budget":"PT18H","business":true},"P4":{"budget":"PT18H","business":true}}}'
    ),
    # The official calendars of a receipt year and the next (`SlaRulebook.default_calendar`).
    ("calendar", "cn-422a774bda7f"): (
        '{"version":"cn-422a774bda7f","timezone":"Asia/Shanghai","hours":{"monday":[{"start":"09:00:00","end":"18:00:00"}],"tuesday":[{"start":"09:00:00","end":"18:00:00"}],"wednesday":[{"start":"09:00:00","end":"18:00:00"}],"thursday":[{"start":"09:00:00","end":"18:00:00"}],"friday":[{"start":"09:00:00","end":"18:00:00"}]},"adjusted_day_hours":null,"holidays":{"2026-01-01":"New Year\'s Day","2026-01-02":"New Year\'s Day","2026-01-03":"New Year\'s Day","2026-02-15":"Spring Festival","2026-02-16":"Spring Festival","2026-02-17":"Spring Festival","2026-02-18":"Spring Festival","2026-02-19":"Spring Festival","2026-02-20":"Spring Festival","2026-02-21":"Spring Festival","2026-02-22":"Spring Festival","2026-02-23":"Spring Festival","2026-04-04":"Tomb-sweeping Day","2026-04-05":"Tomb-sweeping Day","2026-04-06":"Tomb-sweeping Day","2026-05-01":"Labour Day","2026-05-02":"Labour Day","2026-05-03":"Labour Day","2026-05-04":"Labour Day","2026-05-05":"Labour Day","2026-06-19":"Dragon Boat Festival","2026-06-20":"Dragon Boat Festival","2026-06-21":"Dragon Boat Festival","2026-09-25":"Mid-autumn Festival","2026-09-26":"Mid-autumn Festival","2026-09-27":"Mid-autumn Festival","2026-10-01":"National Day","2026-10-02":"National Day","2026-10-03":"National Day","2026-10-04":"National Day","2026-10-05":"National Day","2026-10-06":"National Day","2026-10-07":"National Day"},"extra_working_days":{"2026-01-04":"New Year\'s Day","2026-02-14":"Spring Festival","2026-02-28":"Spring Festival","2026-05-09":"Labour Day","2026-09-20":"National Day","2026-10-10":"National Day"},"covered_years":[2026],"source":"chinese-calendar 1.11.0"}'
    ),
    ("calendar", "cn-9999f70da937"): (
        '{"version":"cn-9999f70da937","timezone":"Asia/Shanghai","hours":{"monday":[{"start":"09:00:00","end":"18:00:00"}],"tuesday":[{"start":"09:00:00","end":"18:00:00"}],"wednesday":[{"start":"09:00:00","end":"18:00:00"}],"thursday":[{"start":"09:00:00","end":"18:00:00"}],"friday":[{"start":"09:00:00","end":"18:00:00"}]},"adjusted_day_hours":null,"holidays":{},"extra_working_days":{},"covered_years":[],"source":"chinese-calendar 1.11.0"}'
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
    # Read from its JSON, as a start carrying it in full was: a copy the case owns (a deep
    # copy of the cached model took about four times as long).
    return KINDS[kind].model_validate_json(RELEASED[(kind, ref["version"])])
