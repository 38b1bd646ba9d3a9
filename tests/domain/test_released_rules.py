"""Pinned rules by reference (domain/released_rules.py, issue 19 §4): a start pinned to a
released built-in carries its version and digest, reads back as the whole, and a worker
whose code does not have it as released refuses to read it."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from domain.calendar import BusinessCalendar
from domain.case import CaseIntake
from domain.handling import HandlingRules
from domain.released_rules import DEFAULTS, KINDS, RELEASED, digest, resolve
from domain.sla import SlaPolicy
from domain.state import CaseStart
from tests.support.people import AGENT_ACTOR, intake


def _start(**rules: object) -> CaseStart:
    received = datetime(2026, 3, 3, 2, tzinfo=UTC)
    return CaseStart(
        number="SQ-RULES", intake=CaseIntake.model_validate(intake()), received_at=received, received_by=AGENT_ACTOR,
        **rules,
    )  # fmt: skip


def _round_trip(start: CaseStart) -> tuple[dict, CaseStart]:
    payload = pydantic_data_converter.payload_converter.to_payloads([start])[0]
    back = pydantic_data_converter.payload_converter.from_payloads([payload], [CaseStart])[0]
    return json.loads(payload.data), back


def test_every_default_is_released_unchanged_under_its_version() -> None:
    # Changing a built-in without a new version would change the rules of every case pinned to it.
    for kind in DEFAULTS:
        default = KINDS[kind]()
        released = RELEASED.get((kind, default.version))  # type: ignore[attr-defined]
        assert released is not None, f"the default {kind} is not released: add it to RELEASED"
        assert digest(default.model_dump_json()) == digest(released)


def test_released_rules_go_by_reference_and_read_back_whole() -> None:
    start = _start()
    data, back = _round_trip(start)
    assert (data["policy"], data["rules"]) == ("released", "released")
    assert isinstance(data["calendar"], dict)  # the model's default calendar is not released
    assert set(data["released"]) == {"policy", "rules"}
    assert data["released"]["policy"]["version"] == SlaPolicy().version
    assert back == start
    assert back.policy is not start.policy  # the case owns its copy


def test_other_rules_go_in_full() -> None:
    policy = SlaPolicy(version="acme-2026-12")
    rules = HandlingRules(reopen_limit=HandlingRules().reopen_limit + 1)
    data, back = _round_trip(_start(policy=policy, rules=rules))
    assert "released" not in data
    assert data["policy"]["version"] == "acme-2026-12" and data["rules"]["reopen_limit"] == rules.reopen_limit
    assert back.policy == policy and back.rules == rules


def test_a_start_from_before_references_reads_as_it_did() -> None:
    # Cases started before references carry their policy and rules in full.
    start = _start()
    old = start.model_dump(mode="json")
    old.pop("released")
    old |= {"policy": SlaPolicy().model_dump(mode="json"), "rules": HandlingRules().model_dump(mode="json")}
    assert CaseStart.model_validate(old) == start


def test_a_digest_this_code_does_not_have_is_refused() -> None:
    data, _ = _round_trip(_start())
    data["released"]["policy"]["digest"] = "0" * 16
    with pytest.raises(ValidationError, match="not released in this code"):
        CaseStart.model_validate(data)
    data["released"]["policy"] = {"version": "2020-01-gone", "digest": "0" * 16}
    with pytest.raises(ValidationError, match="not released in this code"):
        CaseStart.model_validate(data)


def test_released_calendars_are_named_after_their_content() -> None:
    # core/calendar_sources.py names an official calendar "cn-" + the digest of its content,
    # so an entry cannot change under its version.
    calendars = [text for (kind, _), text in RELEASED.items() if kind == "calendar"]
    assert calendars
    for text in calendars:
        calendar = BusinessCalendar.model_validate_json(text)
        content = calendar.model_dump_json(exclude={"version"})
        assert calendar.version == f"cn-{hashlib.sha256(content.encode()).hexdigest()[:12]}"
        assert calendar.model_dump_json() == text


def test_a_released_calendar_goes_by_reference() -> None:
    version = next(version for kind, version in RELEASED if kind == "calendar")
    calendar = resolve("calendar", {"version": version, "digest": digest(RELEASED[("calendar", version)])})
    data, back = _round_trip(_start(calendar=calendar))
    assert data["calendar"] == "released" and data["released"]["calendar"]["version"] == version
    assert back.calendar == calendar


def test_a_worker_from_before_references_cannot_read_such_a_start() -> None:
    # It must not run the case on its model defaults (for the calendar: the plain office week):
    # failing to read the start fails its workflow task, retried until a worker that knows them takes it.
    older = CaseStart.model_fields  # the fields an older worker's model has, less the reading of `released`
    payload = pydantic_data_converter.payload_converter.to_payloads([_start()])[0]
    data = json.loads(payload.data)
    del data["released"]  # an older model ignores what it does not know
    with pytest.raises(ValidationError) as refused:
        CaseStart.model_validate({k: v for k, v in data.items() if k in older})
    assert {error["loc"][0] for error in refused.value.errors()} == {"policy", "rules"}
