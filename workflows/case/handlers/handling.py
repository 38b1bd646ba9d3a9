"""Handling: accepting, reassigning, notes, questions to the customer, deadline extensions and replanning."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import SYSTEM_ACTOR, Actor, CustomerReply, InfoRequest, Note, Reassignment, Stage
    from domain.handling import check_extension
    from domain.lifecycle import Action, EventKind
    from domain.records import Notification
    from domain.refusals import Refusal
    from domain.sla import CUSTOMER_WINDOWS, ClockName, DeadlineExtension, Replan

from workflows.case.base import Next, action_update, applying_rules, awaiting_acceptance, awaiting_plan, refuse
from workflows.case.deadlines import Deadlines


class HandlingHandlers(Deadlines):
    @action_update(Action.ACCEPT)
    async def accept(self, actor: Actor) -> None:
        self._case.assignee = actor.id
        self._meet(ClockName.RESPOND, workflow.now())
        await self._record(
            EventKind.ACCEPTED,
            actor,
            awaiting_plan(actor.id),
            notify=[Notification(recipient="customer", topic="progress", body={"stage": Stage.IN_HANDLING.value})],
        )

    def _check_reassignment(self, actor: Actor, reassignment: Reassignment) -> None:
        if reassignment.department is None and reassignment.assignee is None:
            raise refuse(Refusal.INVALID_PLAN, "name a department, a handler or both", {"field": "department"})

    @action_update(Action.REASSIGN, validate_only=_check_reassignment)
    async def reassign(self, actor: Actor, reassignment: Reassignment) -> None:
        case = self._case
        before = {"department": case.department.value if case.department else None, "assignee": case.assignee}
        if reassignment.department is not None and reassignment.department != case.department:
            case.department = reassignment.department
            case.assignee = None
        if reassignment.assignee is not None:
            case.assignee = reassignment.assignee
        department = case.department.value if case.department else "unrouted"
        to = awaiting_acceptance(department) if case.assignee is None else awaiting_plan(case.assignee)
        await self._record(
            EventKind.REASSIGNED,
            actor,
            to,
            data={
                "from": before,
                "to": {"department": department, "assignee": case.assignee},
                "reason": reassignment.reason,
            },
            notify=[
                Notification(
                    recipient=f"employee:{case.assignee}" if case.assignee else f"department:{department}",
                    topic="case_assigned",
                )
            ],
        )

    @action_update(Action.NOTE)
    async def add_note(self, actor: Actor, note: Note) -> None:
        await self._record(EventKind.NOTE_ADDED, actor, data=note)

    @action_update(Action.REQUEST_INFO)
    async def request_info(self, actor: Actor, request: InfoRequest) -> None:
        self._case.open_question = request.question
        paused = self._case.pause_clocks(workflow.now())
        to = Next(Stage.AWAITING_CUSTOMER, "the customer's answer")
        notify = [Notification(recipient="customer", topic="info_request", body={"question": request.question})]
        await self._record(EventKind.INFO_REQUESTED, actor, to, data=request, notify=notify)
        if paused:
            await self._record(
                EventKind.SLA_PAUSED, SYSTEM_ACTOR, stage=Stage.AWAITING_CUSTOMER, data={"clocks": paused}
            )

    @action_update(Action.CUSTOMER_REPLY)
    async def customer_reply(self, actor: Actor, reply: CustomerReply) -> None:
        case = self._case
        resumes = case.stage is Stage.AWAITING_CUSTOMER
        question = case.open_question
        resumed = []
        if resumes:
            case.open_question = None
            resumed = case.resume_clocks(workflow.now())
        await self._record(
            EventKind.CUSTOMER_REPLIED,
            actor,
            awaiting_plan(case.assignee) if resumes else None,
            data={**reply.model_dump(mode="json"), "answers": question},
            notify=[
                Notification(
                    recipient=f"employee:{case.assignee}" if case.assignee else "agent", topic="customer_replied"
                )
            ],
        )
        await self._record_resumed(resumed)

    def _check_extension(self, actor: Actor, extension: DeadlineExtension) -> None:
        case = self._case
        with applying_rules():
            check_extension(case.policy, case.clocks.get(extension.clock), extension, case.priority, case.stage)

    @action_update(Action.EXTEND_DEADLINE, check=_check_extension)
    async def extend_deadline(self, actor: Actor, extension: DeadlineExtension) -> None:
        case = self._case
        clock = case.clocks[extension.clock]
        before = clock.due_at
        target = clock.target.model_copy(update={"budget": clock.target.budget + extension.extra})
        clock.retarget(target, workflow.now(), case.calendar)
        told = {"clock": extension.clock.value, "due_at": clock.due_at.isoformat(), "reason": extension.reason}
        await self._record(
            EventKind.DEADLINE_EXTENDED,
            actor,
            data={
                "clock": extension.clock.value,
                "reason": extension.reason,
                "due_before": before.isoformat(),
                "due_at": clock.due_at.isoformat(),
                "target": target.describe(),
            },
            notify=[Notification(recipient="customer", topic="deadline_extended", body=told)],
        )

    @workflow.signal
    async def replan(self, replan: Replan) -> None:
        """A newer policy or calendar applies to this case: recompute its open deadlines."""
        await workflow.wait_condition(lambda: self._case.seq > 0)
        async with self._lock:
            case = self._case
            if case.stage is Stage.ARCHIVED:
                return
            now = workflow.now()
            before = {name.value: clock.due_at.isoformat() for name, clock in case.clocks.items() if clock.open}
            if replan.policy is not None:
                case.policy = replan.policy
            if replan.calendar is not None:
                case.calendar = replan.calendar
            for clock in case.clocks.values():
                target = self._target(clock.name)
                if clock.open and target is not None and clock.name not in CUSTOMER_WINDOWS:
                    clock.retarget(target, now, case.calendar)
            after = {name.value: clock.due_at.isoformat() for name, clock in case.clocks.items() if clock.open}
            await self._record(
                EventKind.SLA_REPLANNED,
                SYSTEM_ACTOR,
                data={
                    "policy_version": case.policy.version,
                    "calendar_version": case.calendar.version,
                    "due_before": before,
                    "due_at": after,
                },
            )
