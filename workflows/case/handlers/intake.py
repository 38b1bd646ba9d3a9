"""Receipt and triage: the case is recorded, suggested a triage and triaged, or answered at first contact."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.activities import CaseActivities
    from domain.case import (
        Actor,
        FirstContactAnswer,
        Priority,
        Role,
        Stage,
        TriageDecision,
        TriageRequest,
        TriageSuggestion,
    )
    from domain.lifecycle import Action, EventKind
    from domain.records import Notification
    from domain.refusals import Refusal
    from domain.sla import ClockName, ClockState

from workflows.case.base import AWAITING_SCORE, action_update, awaiting_acceptance, refuse
from workflows.case.deadlines import Deadlines
from workflows.case.patches import FIRST_REPLY_BY_PRIORITY, patched

# Priorities from the most to the least urgent: "lowering" moves right.
PRIORITY_ORDER = (Priority.P1, Priority.P2, Priority.P3, Priority.P4)


def _overrides(suggestion: TriageSuggestion | None, decision: TriageDecision) -> dict[str, Any]:
    """What the agent chose over the suggestion, field by field, for the timeline."""
    if suggestion is None:
        return {}
    changed: dict[str, Any] = {}
    if set(suggestion.categories) != set(decision.categories):
        changed["categories"] = {
            "suggested": [c.value for c in suggestion.categories],
            "chosen": [c.value for c in decision.categories],
        }
    if suggestion.department is not None and suggestion.department != decision.department:
        changed["department"] = {"suggested": suggestion.department.value, "chosen": decision.department.value}
    if suggestion.priority is not None and suggestion.priority != decision.priority:
        changed["priority"] = {"suggested": suggestion.priority.value, "chosen": decision.priority.value}
    return changed


def _lowered(suggestion: TriageSuggestion | None, chosen: Priority) -> Priority | None:
    """The suggested priority, when `chosen` is less urgent than it."""
    if suggestion is None or suggestion.priority is None:
        return None
    return suggestion.priority if PRIORITY_ORDER.index(chosen) > PRIORITY_ORDER.index(suggestion.priority) else None


class IntakeHandlers(Deadlines):
    def _check_triage(self, actor: Actor, decision: TriageDecision) -> None:
        """Validators only: rules that cases recorded before them never checked in the handler."""
        case = self._case
        self._check_lowered_priority(decision)
        if case.stage is Stage.REOPENED and case.rules.reopen_limit_reached(case.reopen_count):
            if actor.role not in (Role.HEAD, Role.ADMIN):
                raise refuse(
                    Refusal.NOT_PERMITTED,
                    f"reopened {case.reopen_count} times: the after-sales head triages this case",
                )

    @action_update(Action.TRIAGE, validate_only=_check_triage)
    async def triage(self, actor: Actor, decision: TriageDecision) -> None:
        case = self._case
        case.categories = list(decision.categories)
        case.priority = decision.priority
        case.department = decision.department
        now = workflow.now()
        first_reply = self._first_reply_answered(now)
        for name in (ClockName.RESPOND, ClockName.PLAN, ClockName.RESOLUTION):
            # Deadlines count from receipt (or the reopen), not from triage.
            self._start_clock(name, case.cycle_started_at)
        overrides = _overrides(case.suggestion, decision)
        data = {
            **decision.model_dump(mode="json"),
            "suggestion_overridden": bool(overrides),
            "overrides": overrides,
        }
        await self._record(
            EventKind.TRIAGED,
            actor,
            awaiting_acceptance(decision.department.value),
            data=data | first_reply,
            notify=[Notification(recipient=f"department:{decision.department.value}", topic="case_assigned")],
        )

    def _check_first_contact_priority(self, actor: Actor, answer: FirstContactAnswer) -> None:
        """Validators only: an answer from the knowledge base is P4 by nature, so lowering an
        ordinary P3 suggestion is the point; lowering an urgent one (P1 or P2: a safety hazard, a
        repeat failure, a high value) needs the agent's reason, as at triage."""
        suggestion = self._case.suggestion
        suggested = _lowered(suggestion, answer.priority)
        if suggested not in (Priority.P1, Priority.P2) or (answer.override_reason and answer.override_reason.strip()):
            return
        self._refuse_lowering(suggested, answer.priority)

    @action_update(Action.ANSWER_AT_FIRST_CONTACT, validate_only=_check_first_contact_priority)
    async def answer_at_first_contact(self, actor: Actor, answer: FirstContactAnswer) -> None:
        case = self._case
        now = workflow.now()
        case.categories = list(answer.categories)
        case.priority = answer.priority
        first_reply = self._first_reply_answered(now)
        self._start_clock(ClockName.SURVEY, now)
        data = answer.model_dump(mode="json") | first_reply
        notify = [Notification(recipient="customer", topic="answer_and_survey", body={"article": answer.article})]
        await self._record(EventKind.FIRST_CONTACT_RESOLVED, actor, AWAITING_SCORE, data=data, notify=notify)

    async def _receive(self, actor: Actor) -> None:
        case = self._case
        case.suggestion = await self._own_activity(
            CaseActivities.suggest_triage,
            TriageRequest(number=case.number, intake=case.intake),
            start_to_close_timeout=timedelta(seconds=10),
            summary="suggest category and department",
        )
        data: dict[str, Any] = {
            "channel": case.intake.channel.value,
            "suggestion": case.suggestion.model_dump(mode="json"),
        }
        if patched(FIRST_REPLY_BY_PRIORITY):
            # Until an agent triages, the clocks count by the suggested priority (a P1 gets 15 minutes).
            case.provisional_priority = case.suggestion.priority
        self._start_clock(ClockName.FIRST_REPLY, case.received_at)
        clock = case.clocks.get(ClockName.FIRST_REPLY)
        if clock is not None and case.provisional_priority is not None:
            data["first_reply"] = {
                "priority": case.provisional_priority.value,
                "target": clock.target.describe(),
                "due_at": clock.due_at.isoformat(),
            }
        await self._record(
            EventKind.RECEIVED,
            actor,
            data=data,
            notify=[
                Notification(recipient="customer", topic="acknowledgement", body={"number": case.number}),
                Notification(recipient="agent", topic="new_case"),
            ],
        )

    def _first_reply_answered(self, now) -> dict[str, Any]:  # noqa: ANN001 - datetime
        """The customer has had the first reply: its clock is met, under the target of the
        priority just set; `first_reply` says which target applied (none before the patch)."""
        first_reply = self._retarget_first_reply(now) if patched(FIRST_REPLY_BY_PRIORITY) else None
        self._meet(ClockName.FIRST_REPLY, now)
        return {} if first_reply is None else {"first_reply": first_reply}

    def _retarget_first_reply(self, now) -> dict[str, Any] | None:  # noqa: ANN001 - datetime
        """The first-reply clock still unmet takes the target of the priority just set (it may
        differ from the suggested one it started with); what applied goes on the timeline."""
        case = self._case
        clock = case.clocks.get(ClockName.FIRST_REPLY)
        if clock is None or not clock.open or case.priority is None:
            return None
        before = clock.target
        target = self._target(ClockName.FIRST_REPLY)
        if target is not None and target != before:
            clock.retarget(target, now, case.calendar)
        return {
            "priority": case.priority.value,
            "target": clock.target.describe(),
            "retargeted_from": before.describe() if clock.target != before else None,
            "due_at": clock.due_at.isoformat(),
            # Late by the target that applies, whether or not the old one had fired its breach.
            "late": clock.state is ClockState.BREACHED or clock.left(now, case.calendar) < timedelta(0),
        }

    def _check_lowered_priority(self, decision: TriageDecision) -> None:
        """Lowering the suggested priority (above all a safety P1) needs the agent's reason."""
        suggestion = self._case.suggestion
        suggested = _lowered(suggestion, decision.priority)
        if suggested is None or (decision.override_reason and decision.override_reason.strip()):
            return
        self._refuse_lowering(suggested, decision.priority)

    def _refuse_lowering(self, suggested: Priority, chosen: Priority) -> None:
        suggestion = self._case.suggestion
        assert suggestion is not None
        safety = any(reason.startswith("safety hazard") for reason in suggestion.reasons)
        why = " for a safety hazard" if safety else ""
        raise refuse(
            Refusal.INVALID_TRIAGE,
            f"the case was suggested {suggested.value}{why}: lowering it to {chosen.value} "
            "needs an override_reason saying why",
            {"field": "override_reason", "suggested_priority": suggested.value},
        )
