"""Case timelines for the report tests, built event by event like the workflow records them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.case import SYSTEM_ACTOR, Actor, CaseIntake, Category, Department, Outcome, Priority, Role, Stage
from domain.lifecycle import EventKind
from domain.records import CaseSnapshot, Transition
from domain.sla import SlaState
from tests.support.people import intake, person

ZONE = "Asia/Shanghai"
ADMIN = person("admin-qian", "admin")
AGENT_ACTOR = Actor(id="agent-li", role=Role.AGENT)
HANDLER_ACTOR = Actor(id="handler-wang", role=Role.HANDLER, department=Department.QUALITY)
SUPERVISOR_ACTOR = Actor(id="supervisor-zhao", role=Role.SUPERVISOR)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class Script:
    """One case's timeline, built event by event like the workflow records it."""

    def __init__(self, number: str, channel: str, sku: str, received: str) -> None:
        self.number = number
        self.transitions: list[Transition] = []
        self.stage = Stage.RECEIVED
        self.categories: list[Category] = []
        self.priority: Priority | None = None
        self.department: Department | None = None
        self.assignee: str | None = None
        self.reopen_count = 0
        self.outcome: Outcome | None = None
        body = intake(channel=channel, product={"sku": sku, "model": "M", "batch": "B1", "serial_number": "SN-1"})
        self._add(
            EventKind.RECEIVED,
            received,
            Stage.RECEIVED,
            {"channel": channel},
            actor=AGENT_ACTOR,
            intake=CaseIntake.model_validate(body),
            received_at=at(received),
        )

    def _add(
        self,
        kind: EventKind,
        when: str,
        stage: Stage | None,
        data: dict[str, Any],
        actor: Actor = SYSTEM_ACTOR,
        **extra: Any,
    ) -> Script:
        if stage is not None:
            self.stage = stage
        snapshot = CaseSnapshot(
            stage=self.stage,
            categories=self.categories,
            priority=self.priority,
            department=self.department,
            assignee=self.assignee,
            reopen_count=self.reopen_count,
            escalation_level=0,
            sla_state=SlaState.ON_TRACK,
            next_deadline=None,
            outcome=self.outcome,
            closed_at=None,
            policy_version="test-policy",
            calendar_version="test-calendar",
        )
        self.transitions.append(
            Transition(
                number=self.number,
                seq=len(self.transitions) + 1,
                kind=kind,
                at=at(when),
                actor=actor,
                data=data,
                snapshot=snapshot,
                **extra,
            )
        )
        return self

    def triage(self, when: str, categories: list[str], priority: str, department: str) -> Script:
        self.categories = [Category(c) for c in categories]
        self.priority = Priority(priority)
        self.department = Department(department)
        data = {"categories": categories, "priority": priority, "department": department, "note": None}
        return self._add(EventKind.TRIAGED, when, Stage.TRIAGED, data | {"suggestion_overridden": False}, AGENT_ACTOR)

    def accept(self, when: str) -> Script:
        self.assignee = HANDLER_ACTOR.id
        return self._add(EventKind.ACCEPTED, when, Stage.IN_HANDLING, {}, HANDLER_ACTOR)

    def propose(self, when: str) -> Script:
        plan = {"root_cause": "seal", "measures": ["refund"], "owner": "handler-wang", "resolution": {"type": "refund"}}
        return self._add(EventKind.PLAN_PROPOSED, when, Stage.PLAN_PROPOSED, plan, HANDLER_ACTOR)

    def reject(self, when: str) -> Script:
        return self._add(EventKind.PLAN_REJECTED, when, Stage.IN_HANDLING, {"reason": "too vague"}, SUPERVISOR_ACTOR)

    def approve(self, when: str) -> Script:
        return self._add(EventKind.PLAN_APPROVED, when, Stage.EXECUTING, {"comment": None}, SUPERVISOR_ACTOR)

    def execute(self, when: str) -> Script:
        receipt = {"reference": "LEDGER-1", "resolution_type": "refund", "amount": "899.00", "currency": "CNY"}
        return self._add(EventKind.RESOLUTION_EXECUTED, when, Stage.AWAITING_FEEDBACK, receipt | {"executed_at": when})

    def feedback(self, when: str, score: int, satisfied: bool | None = None) -> Script:
        data = {"score": score, "satisfied": satisfied, "comment": "张三丰 says: call me on +86 138 0013 8000"}
        if score <= 3 or satisfied is False:
            self.reopen_count += 1
            self.assignee = None
            return self._add(EventKind.REOPENED, when, Stage.REOPENED, data, AGENT_ACTOR)
        self.outcome = Outcome.SATISFIED
        return self._add(EventKind.CLOSED, when, Stage.CLOSED, data, AGENT_ACTOR)

    def answer_at_first_contact(self, when: str, categories: list[str]) -> Script:
        self.categories = [Category(c) for c in categories]
        self.priority = Priority.P4
        data = {"categories": categories, "priority": "P4", "article": "KB-12", "answer": "Hold the button 5 s."}
        return self._add(EventKind.FIRST_CONTACT_RESOLVED, when, Stage.AWAITING_FEEDBACK, data, AGENT_ACTOR)

    def withdraw(self, when: str) -> Script:
        self.outcome = Outcome.WITHDRAWN
        return self._add(EventKind.WITHDRAWN, when, Stage.WITHDRAWN, {"reason": "no longer needed"}, AGENT_ACTOR)

    def _sla(self, kind: EventKind, when: str, clock: str, **more: Any) -> Script:
        # As workflows/case.py records them: the agent answers for the first reply, else the handler.
        role, person = ("agent", None) if clock == "first_reply" else ("handler", self.assignee)
        data = {"clock": clock, "due_at": when, "responsible_role": role, "responsible_id": person} | more
        if self.department is not None:
            data["department"] = self.department.value
        return self._add(kind, when, None, data)

    def breach(self, when: str, clock: str) -> Script:
        return self._sla(EventKind.SLA_BREACHED, when, clock, escalated_to="supervisor", escalation_level=1)

    def escalate(self, when: str, clock: str) -> Script:
        return self._sla(EventKind.SLA_ESCALATED, when, clock, escalated_to="head", escalation_level=2)

    def warn(self, when: str, clock: str) -> Script:
        return self._sla(EventKind.SLA_WARNING, when, clock, fraction=0.75)
