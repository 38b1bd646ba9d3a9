"""CaseWorkflow: one after-sales case, from receipt to archive.

Deterministic code only. Everything that touches the world (the database,
the outbox, the ledger, the triage rules) happens in activities, called by
name so this module never imports them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import search_attributes as sa
    from domain.case import (
        SYSTEM_ACTOR,
        Actor,
        AfterReturn,
        Approval,
        CustomerReply,
        Department,
        DuplicateLink,
        DuplicateMark,
        ExchangeChoice,
        ExchangeOffer,
        Feedback,
        FirstContactAnswer,
        FollowUpCompletion,
        FollowUpTask,
        InfoRequest,
        LedgerReceipt,
        Note,
        Outcome,
        Priority,
        ProposedPlan,
        Reassignment,
        RefundKind,
        Rejection,
        ResolutionType,
        Role,
        SolutionPlan,
        Stage,
        StockCheck,
        TriageDecision,
        TriageRequest,
        TriageSuggestion,
        Withdrawal,
    )
    from domain.contribution import (
        Contribution,
        ContributionStatus,
        ContributionSubmission,
        ContributionWaiver,
        DepartmentsNaming,
        contribution_due,
        contribution_target,
        next_overdue,
        outstanding,
    )
    from domain.follow_up import CallBackCompletion, CallBackTask, FixCheck, FixCheckAnswer, FixCheckStatus, ResultTold
    from domain.lifecycle import OPEN_STAGES, Action, ActionNotAllowed, EventKind, check_allowed
    from domain.queues import escalations
    from domain.records import CaseSnapshot, Notification, ResolutionOrder, Transition
    from domain.returns import OVERRIDE_ROLES, STEPPED_RESOLUTIONS, ReturnProgress, ReturnStepSignal, sender_of
    from domain.sla import (
        CUSTOMER_WINDOWS,
        TASK_CLOCKS,
        ClockName,
        ClockState,
        DeadlineExtension,
        DueItem,
        DueKind,
        Replan,
        SlaClock,
        SlaView,
        label,
        next_due,
        sla_view,
    )
    from domain.state import CaseStart, CaseState, CaseView

TASK_QUEUE = "aftersales-cases"

# A database outage delays a case; it must never fail it.
RECORD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
EXECUTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["ResolutionRefused", "RouteFailed"],
)

# Refunds go to the customer's original payment route first and to an alternative route
# when it fails; a resolution no route could carry out becomes a follow-up task for a
# person instead of failing the case. Cases approved before this patch keep their one
# `execute_resolution` call.
EXECUTION_ROUTES = "execution-routes"
REFUND_ROUTES = ("original", "alternative")
ROUTE_FAILURES = frozenset({"RouteFailed", "ResolutionRefused"})
# An exchange first checks stock; out of stock, the customer chooses a similar item or a
# refund (clocks paused meanwhile).
EXCHANGE_STOCK = "exchange-stock-check"
# Returns and repairs wait for logistics and the warehouse step by step (domain/returns.py)
# before the refund, exchange or repaired item is settled; cases approved before this patch
# keep their one `execute_resolution` call.
RETURN_STEPS = "return-steps"
# An exchange offer the customer leaves unanswered is reminded, then settled by the refund it
# included; offers made before this patch wait for the customer as they did.
EXCHANGE_OFFER_TIMEOUT = "exchange-offer-timeout"
EXECUTION_DUE_KINDS = frozenset({DueKind.RETURN_STEP, DueKind.EXCHANGE_REMINDER, DueKind.EXCHANGE_DEFAULT})

# A stage change the customer hears about, and the stages in which silence is broken
# by a progress update at the policy's cadence (not while we wait on the customer).
CUSTOMER_VISIBLE_STAGES = frozenset({Stage.TRIAGED, Stage.IN_HANDLING, Stage.PLAN_PROPOSED, Stage.EXECUTING})
UPDATED_STAGES = OPEN_STAGES - {Stage.AWAITING_CUSTOMER, Stage.RECEIVED}

# Recording a transition and suggesting a triage are quick writes and reads of our own
# database: as local activities they run inside the workflow task instead of costing a
# server round trip each (bench/README.md). Cases started before this patch keep the
# regular activities they were recorded with.
LOCAL_SIDE_EFFECTS = "local-record-and-triage"
# Approval by grade (issue 4): a deadline for the approver, a second rejection sends the plan
# to the head, too many reopens send the case to the head. Each adds timers or events that
# cases recorded before it never had.
APPROVAL_CLOCK = "approval-deadline"
SECOND_REJECTION = "second-rejection-to-head"
REOPEN_LIMIT = "reopen-limit-to-head"

# Result and follow-up (issue 4, steps 6 and 7): a working day to tell the customer the result,
# a call-back task for a person after a low score, and a fix check days after a satisfied close.
# Cases recorded before them keep the old way: no result clock, a `call_back` notification only,
# and archiving at once after closing.
RESULT_CLOCK = "result-clock"
CALL_BACK_TASK = "call-back-task"
FIX_CHECK = "fix-check"
# Multi-department cases (issue 4): contribution deadlines share the case's one timer and a
# plan waits for every contribution. Only cases whose head named assisting departments meet
# either; the patch marks the histories that do.
MULTI_DEPARTMENT = "multi-department"
# A case that wakes late (a backlog of timers on a busy worker) may find several items due
# at once, e.g. a warning and the breach: they are recorded with one local activity in one
# workflow task instead of one each (bench/README.md, deadline lag). Cases recorded before
# this patch recorded each item alone.
COALESCE_DUE_ITEMS = "coalesce-due-items"
MAX_COALESCED = 10
# The first reply is due by the suggested priority's target from receipt (15 minutes for a
# suggested P1, issue 12), and triage re-targets a clock still unmet to the priority it sets;
# the `received` and `triaged` events say which target applied. Cases received before this
# patch started their first-reply timer at P3's 30 minutes and keep it.
FIRST_REPLY_BY_PRIORITY = "first-reply-by-priority"
# A person's action is recorded by a regular activity, scheduled in the workflow task that
# accepts the update, so the write exists only once the acceptance is in history. A local
# activity wrote it before the task completed: a crash then left an approval in the record
# that the server dropped with the task (issue 13). Timer-, signal- and start-driven writes
# stay local: their cause is already in history and a retried task writes them again (the
# store replaces what a lost task wrote: store/cases.py). Cases recorded before this patch
# keep their local activities in handlers.
RECORD_AFTER_ACCEPT = "record-after-accept"
# A write the database refuses for good (a data error, e.g. a NUL character in text) fails
# the record activity at once instead of retrying for ever (issue 13 §2): the case notes the
# failure for the stuck finder and waits there for an engineer, recording nothing after it.
# Only a case that meets such a refusal runs this code; no recorded history did.
RECORD_REFUSED = "record-refused"

APPROVER_NAMES = {Role.HEAD: "the after-sales head", Role.SUPERVISOR: "a module lead"}

# Resolution types that move money need an amount no larger than what was paid.
MONEY_RESOLUTIONS = frozenset({ResolutionType.REFUND, ResolutionType.COMPENSATION})


def _overrides(suggestion: TriageSuggestion | None, decision: TriageDecision) -> dict[str, Any]:
    """What the agent chose over the suggestion, field by field, for the timeline."""
    if suggestion is None:
        return {}
    changed: dict[str, Any] = {}
    if set(suggestion.categories) != set(decision.categories):
        changed["categories"] = {"suggested": [c.value for c in suggestion.categories], "chosen": [c.value for c in decision.categories]}
    if suggestion.department is not None and suggestion.department != decision.department:
        changed["department"] = {"suggested": suggestion.department.value, "chosen": decision.department.value}
    if suggestion.priority is not None and suggestion.priority != decision.priority:
        changed["priority"] = {"suggested": suggestion.priority.value, "chosen": decision.priority.value}
    return changed


# Priorities from the most to the least urgent: "lowering" moves right.
PRIORITY_ORDER = (Priority.P1, Priority.P2, Priority.P3, Priority.P4)


def _lowered(suggestion: TriageSuggestion | None, chosen: Priority) -> Priority | None:
    """The suggested priority, when `chosen` is less urgent than it."""
    if suggestion is None or suggestion.priority is None:
        return None
    return suggestion.priority if PRIORITY_ORDER.index(chosen) > PRIORITY_ORDER.index(suggestion.priority) else None


def _not_allowed(error: ActionNotAllowed) -> ApplicationError:
    return ApplicationError(
        str(error), {"stage": error.stage.value, "action": error.action.value}, type="ActionNotAllowed", non_retryable=True
    )


@workflow.defn
class CaseWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self._case = start.state or CaseState(
            number=start.number,
            intake=start.intake,
            policy=start.policy,
            calendar=start.calendar,
            rules=start.rules,
            received_at=start.received_at,
            updated_at=start.received_at,
            cycle_started_at=start.received_at,
        )
        # Handlers and the main loop each record transitions; the lock keeps
        # timeline sequence numbers in the order the state changed.
        self._lock = asyncio.Lock()
        self._changes = 0
        self._recorded = self._case.seq  # the last sequence number the database has
        self._recorded_categories: list | None = None  # unknown until this run records once
        self._batch: list[Transition] | None = None  # transitions held for one write (coalesced due items)
        self._refusal: str | None = None  # what the database refused for good, if it did

    @workflow.run
    async def run(self, start: CaseStart) -> CaseView:
        case = self._case
        self._publish()  # visible to operators before the first activity completes
        if start.state is None:
            async with self._lock:
                await self._receive(start.received_by)
        while case.stage is not Stage.ARCHIVED:
            if self._ready_to_execute():
                async with self._lock:
                    # A person may have completed a follow-up task while we waited for the lock.
                    if self._ready_to_execute():
                        await self._execute()
            elif case.stage in (Stage.CLOSED, Stage.WITHDRAWN) and self._may_archive():
                async with self._lock:
                    await self._record(EventKind.ARCHIVED, SYSTEM_ACTOR, stage=Stage.ARCHIVED, archive=True)
            else:
                await self._wait_for_change_or_deadline()
            if workflow.info().is_continue_as_new_suggested() and case.stage is not Stage.ARCHIVED:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(start.model_copy(update={"state": case}))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return case.view()

    # ---- reads -------------------------------------------------------------

    @workflow.query
    def state(self) -> CaseState:
        return self._case

    @workflow.query
    def sla(self) -> SlaView:
        case = self._case
        view = sla_view(case.clocks, case.policy, case.calendar, workflow.now())
        # The case's own meaning, as on its record and search attributes: a return step due is a
        # deadline too, a missed one a breach.
        return view.model_copy(update={"next_deadline": case.next_deadline, "state": case.sla_state})

    @workflow.update
    async def receipt(self) -> CaseView:
        """Returns once the case is in the database and acknowledged (used with update-with-start)."""
        await workflow.wait_condition(lambda: self._recorded > 0)
        return self._case.view()

    # ---- actions -----------------------------------------------------------

    @workflow.update
    async def triage(self, actor: Actor, decision: TriageDecision) -> CaseView:
        async with self._acting(Action.TRIAGE):
            case = self._case
            case.categories = list(decision.categories)
            case.priority = decision.priority
            case.department = decision.department
            now = workflow.now()
            first_reply = self._retarget_first_reply(now) if workflow.patched(FIRST_REPLY_BY_PRIORITY) else None
            self._meet(ClockName.FIRST_REPLY, now)
            for name in (ClockName.RESPOND, ClockName.PLAN, ClockName.RESOLUTION):
                # Deadlines count from receipt (or the reopen), not from triage.
                self._start_clock(name, case.cycle_started_at)
            overrides = _overrides(case.suggestion, decision)
            data = {**decision.model_dump(mode="json"), "suggestion_overridden": bool(overrides), "overrides": overrides}
            if first_reply is not None:
                data["first_reply"] = first_reply
            await self._record(
                EventKind.TRIAGED,
                actor,
                stage=Stage.TRIAGED,
                waiting_for=f"a {decision.department.value} handler to accept",
                data=data,
                notify=[Notification(recipient=f"department:{decision.department.value}", topic="case_assigned")],
            )
            return case.view()

    @triage.validator
    def _validate_triage(self, actor: Actor, decision: TriageDecision) -> None:
        self._check(Action.TRIAGE)
        case = self._case
        self._check_lowered_priority(decision)
        if case.stage is Stage.REOPENED and case.reopen_count >= case.rules.reopen_limit:
            if actor.role not in (Role.HEAD, Role.ADMIN):
                raise ApplicationError(
                    f"reopened {case.reopen_count} times: the after-sales head triages this case", type="NotPermitted"
                )

    @workflow.update
    async def answer_at_first_contact(self, actor: Actor, answer: FirstContactAnswer) -> CaseView:
        async with self._acting(Action.ANSWER_AT_FIRST_CONTACT):
            case = self._case
            now = workflow.now()
            case.categories = list(answer.categories)
            case.priority = answer.priority
            first_reply = self._retarget_first_reply(now) if workflow.patched(FIRST_REPLY_BY_PRIORITY) else None
            self._meet(ClockName.FIRST_REPLY, now)
            self._start_clock(ClockName.SURVEY, now)
            data = answer.model_dump(mode="json")
            if first_reply is not None:
                data["first_reply"] = first_reply
            await self._record(
                EventKind.FIRST_CONTACT_RESOLVED,
                actor,
                stage=Stage.AWAITING_FEEDBACK,
                waiting_for="the customer's satisfaction score",
                data=data,
                notify=[Notification(recipient="customer", topic="answer_and_survey", body={"article": answer.article})],
            )
            return case.view()

    @answer_at_first_contact.validator
    def _validate_answer_at_first_contact(self, actor: Actor, answer: FirstContactAnswer) -> None:
        self._check(Action.ANSWER_AT_FIRST_CONTACT)

    @workflow.update
    async def accept(self, actor: Actor) -> CaseView:
        async with self._acting(Action.ACCEPT):
            self._case.assignee = actor.id
            self._meet(ClockName.RESPOND, workflow.now())
            await self._record(
                EventKind.ACCEPTED,
                actor,
                stage=Stage.IN_HANDLING,
                waiting_for=f"handler {actor.id} to propose a solution plan",
                notify=[Notification(recipient="customer", topic="progress", body={"stage": Stage.IN_HANDLING.value})],
            )
            return self._case.view()

    @accept.validator
    def _validate_accept(self, actor: Actor) -> None:
        self._check(Action.ACCEPT)

    @workflow.update
    async def reassign(self, actor: Actor, reassignment: Reassignment) -> CaseView:
        async with self._acting(Action.REASSIGN):
            case = self._case
            before = {"department": case.department.value if case.department else None, "assignee": case.assignee}
            if reassignment.department is not None and reassignment.department != case.department:
                case.department = reassignment.department
                case.assignee = None
            if reassignment.assignee is not None:
                case.assignee = reassignment.assignee
            department = case.department.value if case.department else "unrouted"
            if case.assignee is None:
                stage, waiting_for = Stage.TRIAGED, f"a {department} handler to accept"
            else:
                stage, waiting_for = Stage.IN_HANDLING, f"handler {case.assignee} to propose a solution plan"
            await self._record(
                EventKind.REASSIGNED,
                actor,
                stage=stage,
                waiting_for=waiting_for,
                data={"from": before, "to": {"department": department, "assignee": case.assignee}, "reason": reassignment.reason},
                notify=[
                    Notification(
                        recipient=f"employee:{case.assignee}" if case.assignee else f"department:{department}",
                        topic="case_assigned",
                    )
                ],
            )
            return case.view()

    @reassign.validator
    def _validate_reassign(self, actor: Actor, reassignment: Reassignment) -> None:
        self._check(Action.REASSIGN)
        if reassignment.department is None and reassignment.assignee is None:
            raise ApplicationError("name a department, a handler or both", {"field": "department"}, type="InvalidPlan")

    @workflow.update
    async def add_note(self, actor: Actor, note: Note) -> CaseView:
        async with self._acting(Action.NOTE):
            await self._record(EventKind.NOTE_ADDED, actor, data=note.model_dump(mode="json"))
            return self._case.view()

    @add_note.validator
    def _validate_note(self, actor: Actor, note: Note) -> None:
        self._check(Action.NOTE)

    @workflow.update
    async def request_info(self, actor: Actor, request: InfoRequest) -> CaseView:
        async with self._acting(Action.REQUEST_INFO):
            self._case.open_question = request.question
            paused = [c.name.value for c in self._case.clocks.values() if c.pause(workflow.now(), self._case.calendar)]
            await self._record(
                EventKind.INFO_REQUESTED,
                actor,
                stage=Stage.AWAITING_CUSTOMER,
                waiting_for="the customer's answer",
                data=request.model_dump(mode="json"),
                notify=[Notification(recipient="customer", topic="info_request", body={"question": request.question})],
            )
            if paused:
                await self._record(EventKind.SLA_PAUSED, SYSTEM_ACTOR, stage=Stage.AWAITING_CUSTOMER, data={"clocks": paused})
            return self._case.view()

    @request_info.validator
    def _validate_request_info(self, actor: Actor, request: InfoRequest) -> None:
        self._check(Action.REQUEST_INFO)

    @workflow.update
    async def customer_reply(self, actor: Actor, reply: CustomerReply) -> CaseView:
        async with self._acting(Action.CUSTOMER_REPLY):
            case = self._case
            resumes = case.stage is Stage.AWAITING_CUSTOMER
            question = case.open_question
            resumed = []
            if resumes:
                case.open_question = None
                resumed = [c.name.value for c in case.clocks.values() if c.resume(workflow.now(), case.calendar)]
            await self._record(
                EventKind.CUSTOMER_REPLIED,
                actor,
                stage=Stage.IN_HANDLING if resumes else None,
                waiting_for=f"handler {case.assignee} to propose a solution plan" if resumes else None,
                data={**reply.model_dump(mode="json"), "answers": question},
                notify=[Notification(recipient=f"employee:{case.assignee}" if case.assignee else "agent", topic="customer_replied")],
            )
            await self._record_resumed(resumed)
            return case.view()

    @customer_reply.validator
    def _validate_customer_reply(self, actor: Actor, reply: CustomerReply) -> None:
        self._check(Action.CUSTOMER_REPLY)

    @workflow.update
    async def propose_plan(self, actor: Actor, plan: SolutionPlan) -> CaseView:
        async with self._acting(Action.PROPOSE_PLAN):
            self._check_plan(plan)
            if self._case.contributions and workflow.patched(MULTI_DEPARTMENT):
                self._check_contributions_in()  # one may have been asked for since validation
            case = self._case
            now = workflow.now()
            case.plan = ProposedPlan(plan=plan, author=actor, proposed_at=now)
            self._meet(ClockName.PLAN, now)
            if workflow.patched(APPROVAL_CLOCK):
                self._start_clock(ClockName.APPROVAL, now)
            approver = self._approver()
            await self._record(
                EventKind.PLAN_PROPOSED,
                actor,
                stage=Stage.PLAN_PROPOSED,
                waiting_for=f"approval by {APPROVER_NAMES[approver]}",
                data={**plan.model_dump(mode="json"), "approver": approver.value},
                notify=[Notification(recipient=approver.value, topic="approval_requested")],
            )
            return case.view()

    @propose_plan.validator
    def _validate_propose_plan(self, actor: Actor, plan: SolutionPlan) -> None:
        self._check(Action.PROPOSE_PLAN)
        self._check_contributions_in()
        self._check_plan(plan)
        self._check_compensation_cap(plan)
        self._check_return_amount(plan)

    @workflow.update
    async def approve(self, actor: Actor, approval: Approval) -> CaseView:
        async with self._acting(Action.APPROVE):
            self._check_approver(actor)
            self._meet(ClockName.APPROVAL, workflow.now())
            await self._record(
                EventKind.PLAN_APPROVED,
                actor,
                stage=Stage.EXECUTING,
                waiting_for="the resolution to be carried out",
                data=approval.model_dump(mode="json"),
                notify=[Notification(recipient=f"employee:{self._case.assignee}", topic="plan_approved")],
            )
            return self._case.view()

    @approve.validator
    def _validate_approve(self, actor: Actor, approval: Approval) -> None:
        self._check(Action.APPROVE)
        self._check_approver(actor)
        self._check_grade(actor)

    @workflow.update
    async def reject(self, actor: Actor, rejection: Rejection) -> CaseView:
        async with self._acting(Action.REJECT):
            self._check_approver(actor)
            case = self._case
            case.last_rejection = rejection.reason
            case.plan = None
            self._meet(ClockName.APPROVAL, workflow.now())
            required_before = self._approver()
            case.rejections += 1
            await self._record(
                EventKind.PLAN_REJECTED,
                actor,
                stage=Stage.IN_HANDLING,
                waiting_for=f"handler {case.assignee} to revise the plan",
                data=rejection.model_dump(mode="json"),
                notify=[
                    Notification(
                        recipient=f"employee:{case.assignee}", topic="plan_rejected", body={"reason": rejection.reason}
                    )
                ],
            )
            if self._approver() is not required_before and workflow.patched(SECOND_REJECTION):
                await self._record(
                    EventKind.APPROVAL_ESCALATED,
                    SYSTEM_ACTOR,
                    data={"to": Role.HEAD.value, "rejections": case.rejections, "reason": "rejected again"},
                    notify=[Notification(recipient=Role.HEAD.value, topic="approval_escalated")],
                )
            return case.view()

    @reject.validator
    def _validate_reject(self, actor: Actor, rejection: Rejection) -> None:
        self._check(Action.REJECT)
        self._check_approver(actor)
        self._check_grade(actor)

    @workflow.update
    async def record_feedback(self, actor: Actor, feedback: Feedback) -> CaseView:
        async with self._acting(Action.FEEDBACK):
            case = self._case
            case.feedback.append(feedback)
            now = workflow.now()
            self._meet(ClockName.SURVEY, now)
            # The customer answering the survey has heard the result.
            self._meet(ClockName.RESULT, now)
            data = feedback.model_dump(mode="json")
            if feedback.reopens:
                reason = f"survey score {feedback.score}" + (" (not satisfied)" if feedback.satisfied is False else "")
                await self._reopen(actor, data, reason, score=feedback.score)
            else:
                case.outcome = Outcome.SATISFIED
                case.closed_at = now
                # A resolution was carried out: days later the customer is asked whether it held.
                # A case answered at first contact was told something, not fixed: it archives.
                window = self._target(ClockName.FIX_CHECK)
                checks = case.receipt is not None and window is not None and workflow.patched(FIX_CHECK)
                notify = [Notification(recipient="customer", topic="closed")]
                if checks:
                    assert window is not None
                    case.fix_check = FixCheck(ask_at=now + timedelta(days=case.rules.fix_check_after_days), answer_within=window)
                    ask_at = case.fix_check.ask_at.isoformat()
                    data |= {"fix_check_at": ask_at}
                    notify = [Notification(recipient="customer", topic="closed", body={"fix_check_at": ask_at})]
                await self._record(
                    EventKind.CLOSED,
                    actor,
                    stage=Stage.CLOSED,
                    waiting_for=self._fix_check_wait() if checks else "archiving",
                    data=data,
                    notify=notify,
                )
            return case.view()

    @record_feedback.validator
    def _validate_feedback(self, actor: Actor, feedback: Feedback) -> None:
        self._check(Action.FEEDBACK)

    async def _reopen(self, actor: Actor, data: dict[str, Any], reason: str, *, score: int | None = None) -> None:
        """Back to triage with the same number (a low score, or a fix that did not hold); a
        person calls the customer back."""
        case = self._case
        now = workflow.now()
        case.reopen_count += 1
        case.cycle_started_at = now
        case.assignee = None
        case.plan = None
        case.rejections = 0
        case.outcome = None
        case.closed_at = None
        case.result_told_at = None
        # A new cycle: its clocks start when the agent triages it again. An open call-back stays.
        kept = {name: clock for name, clock in case.clocks.items() if name in TASK_CLOCKS and clock.open}
        case.clocks.clear()
        case.clocks.update(kept)
        call_back_task = workflow.patched(CALL_BACK_TASK)
        notify = [Notification(recipient="customer", topic="reopened")]
        if not call_back_task:
            notify.insert(0, Notification(recipient="agent", topic="call_back", body={"score": score}))
        await self._record(
            EventKind.REOPENED,
            actor,
            stage=Stage.REOPENED,
            waiting_for="triage by an agent (reopened)",
            data=data,
            notify=notify,
        )
        if case.reopen_count >= case.rules.reopen_limit and workflow.patched(REOPEN_LIMIT):
            await self._record(
                EventKind.REOPEN_LIMIT_REACHED,
                SYSTEM_ACTOR,
                waiting_for=f"the after-sales head (reopened {case.reopen_count} times)",
                data={"reopen_count": case.reopen_count, "limit": case.rules.reopen_limit},
                notify=[Notification(recipient=Role.HEAD.value, topic="reopen_limit_reached")],
            )
        if call_back_task:
            await self._open_call_back(reason)

    async def _open_call_back(self, reason: str) -> None:
        """A task for an agent to call the customer back, with its deadline (the `call_back`
        clock). One at a time: whoever calls back reads the whole timeline."""
        case = self._case
        if case.call_back is not None:
            return
        now = workflow.now()
        self._start_clock(ClockName.CALL_BACK, now)
        clock = case.clocks.get(ClockName.CALL_BACK)
        case.call_back = CallBackTask(reason=reason, created_at=now, due_at=clock.due_at if clock else None)
        await self._record(
            EventKind.CALL_BACK_TASK_CREATED,
            SYSTEM_ACTOR,
            data={
                "reason": reason,
                "assigned_to": Role.AGENT.value,
                "due_at": clock.due_at.isoformat() if clock else None,
            },
            notify=[Notification(recipient=Role.AGENT.value, topic="call_back", body={"reason": reason})],
        )

    @workflow.update
    async def tell_result(self, actor: Actor, told: ResultTold) -> CaseView:
        """An agent told the customer the result, what was done and what follow-up to expect."""
        async with self._acting(Action.TELL_RESULT):
            case = self._case
            now = workflow.now()
            case.result_told_at = now
            self._meet(ClockName.RESULT, now)
            await self._record(EventKind.RESULT_TOLD, actor, data=told.model_dump(mode="json"))
            return case.view()

    @tell_result.validator
    def _validate_tell_result(self, actor: Actor, told: ResultTold) -> None:
        self._check(Action.TELL_RESULT)

    @workflow.update
    async def complete_call_back(self, actor: Actor, completion: CallBackCompletion) -> CaseView:
        async with self._acting(Action.COMPLETE_CALL_BACK):
            self._check_call_back()
            case = self._case
            task = case.call_back
            assert task is not None
            self._meet(ClockName.CALL_BACK, workflow.now())
            case.call_back = None
            await self._record(
                EventKind.CALL_BACK_COMPLETED,
                actor,
                data={**completion.model_dump(mode="json"), "task_reason": task.reason, "task_created_at": task.created_at.isoformat()},
            )
            return case.view()

    @complete_call_back.validator
    def _validate_complete_call_back(self, actor: Actor, completion: CallBackCompletion) -> None:
        self._check(Action.COMPLETE_CALL_BACK)
        self._check_call_back()

    def _check_call_back(self) -> None:
        if self._case.call_back is None:
            raise ApplicationError(
                "the case has no open call-back task", {"stage": self._case.stage.value}, type="ActionNotAllowed"
            )

    @workflow.update
    async def answer_fix_check(self, actor: Actor, answer: FixCheckAnswer) -> CaseView:
        """The customer's answer to the fix check: held archives the case, not held reopens it."""
        async with self._acting(Action.ANSWER_FIX_CHECK):
            self._check_fix_check()
            case = self._case
            fix = case.fix_check
            assert fix is not None
            now = workflow.now()
            fix.answered_at = now
            self._meet(ClockName.FIX_CHECK, now)
            data = answer.model_dump(mode="json")
            if answer.held:
                fix.status = FixCheckStatus.HELD
                await self._record(EventKind.FIX_CONFIRMED, actor, waiting_for="archiving", data=data)
            else:
                fix.status = FixCheckStatus.NOT_HELD
                await self._reopen(actor, data | {"reason": "the fix did not hold"}, "the fix did not hold")
            return case.view()

    @answer_fix_check.validator
    def _validate_answer_fix_check(self, actor: Actor, answer: FixCheckAnswer) -> None:
        self._check(Action.ANSWER_FIX_CHECK)
        self._check_fix_check()

    def _check_fix_check(self) -> None:
        fix = self._case.fix_check
        if fix is None or not fix.pending:
            raise ApplicationError(
                "the case has no pending fix check", {"stage": self._case.stage.value}, type="ActionNotAllowed"
            )

    def _fix_check_wait(self) -> str:
        fix = self._case.fix_check
        assert fix is not None
        return f"the fix check on {fix.ask_at.astimezone(self._case.calendar.zone).date().isoformat()}"

    def _may_archive(self) -> bool:
        """A closed case archives once nothing is left to do: no fix check to ask or answer,
        no customer to call back (a case is never silently dropped)."""
        case = self._case
        return not (case.fix_check is not None and case.fix_check.pending) and case.call_back is None

    @workflow.update
    async def withdraw(self, actor: Actor, withdrawal: Withdrawal) -> CaseView:
        async with self._acting(Action.WITHDRAW):
            case = self._case
            self._close_as(Outcome.WITHDRAWN)
            await self._record(
                EventKind.WITHDRAWN,
                actor,
                stage=Stage.WITHDRAWN,
                waiting_for="archiving",
                data=withdrawal.model_dump(mode="json"),
                notify=[Notification(recipient="customer", topic="withdrawn")],
            )
            return case.view()

    @withdraw.validator
    def _validate_withdraw(self, actor: Actor, withdrawal: Withdrawal) -> None:
        self._check(Action.WITHDRAW)

    @workflow.update
    async def mark_duplicate(self, actor: Actor, mark: DuplicateMark) -> CaseView:
        async with self._acting(Action.MARK_DUPLICATE):
            case = self._case
            case.duplicate_of = mark.original
            self._close_as(Outcome.DUPLICATE)
            await self._record(
                EventKind.MARKED_DUPLICATE,
                actor,
                stage=Stage.CLOSED,
                waiting_for="archiving",
                data=mark.model_dump(mode="json"),
                notify=[Notification(recipient="customer", topic="duplicate", body={"original": mark.original})],
            )
            # The original notes the link on its own timeline; the API checked it is open.
            original = workflow.get_external_workflow_handle_for(CaseWorkflow.run, mark.original)
            try:
                await original.signal(CaseWorkflow.link_duplicate, DuplicateLink(duplicate=case.number, marked_by=actor))
            except Exception:  # noqa: BLE001 - archived meanwhile: the link stays on this case's record
                workflow.logger.warning("%s: original %s no longer takes signals", case.number, mark.original)
            return case.view()

    @mark_duplicate.validator
    def _validate_mark_duplicate(self, actor: Actor, mark: DuplicateMark) -> None:
        self._check(Action.MARK_DUPLICATE)
        if mark.original == self._case.number:
            raise ApplicationError("a case cannot duplicate itself", {"field": "original"}, type="InvalidPlan")

    @workflow.signal
    async def link_duplicate(self, link: DuplicateLink) -> None:
        await workflow.wait_condition(lambda: self._case.seq > 0)
        async with self._lock:
            case = self._case
            if case.stage is Stage.ARCHIVED or link.duplicate in case.duplicates:
                return
            case.duplicates.append(link.duplicate)
            await self._record(EventKind.DUPLICATE_LINKED, link.marked_by, data={"duplicate": link.duplicate})

    @workflow.update
    async def extend_deadline(self, actor: Actor, extension: DeadlineExtension) -> CaseView:
        async with self._acting(Action.EXTEND_DEADLINE):
            self._check_extension(extension)
            case = self._case
            clock = case.clocks[extension.clock]
            before = clock.due_at
            target = clock.target.model_copy(update={"budget": clock.target.budget + extension.extra})
            clock.retarget(target, workflow.now(), case.calendar)
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
                notify=[
                    Notification(
                        recipient="customer",
                        topic="deadline_extended",
                        body={"clock": extension.clock.value, "due_at": clock.due_at.isoformat(), "reason": extension.reason},
                    )
                ],
            )
            return case.view()

    @extend_deadline.validator
    def _validate_extend_deadline(self, actor: Actor, extension: DeadlineExtension) -> None:
        self._check(Action.EXTEND_DEADLINE)
        self._check_extension(extension)

    @workflow.update
    async def complete_follow_up(self, actor: Actor, completion: FollowUpCompletion) -> CaseView:
        """A person carried out by hand the resolution no route could: the ledger records
        it on the `manual` route and the case moves on to the customer's verdict."""
        async with self._acting(Action.COMPLETE_FOLLOW_UP):
            self._check_follow_up()
            case = self._case
            task = case.follow_up
            assert task is not None and case.plan is not None
            kind = task.resolution_type or case.plan.plan.resolution.type
            update: dict[str, Any] = {"key": task.resolution_key, "route": "manual", "external_reference": completion.reference}
            if task.resolution_type is not None:
                update |= {"type": kind, "amount": task.amount}
            order = self._order().model_copy(update=update)
            receipt = await workflow.execute_activity(
                "record_manual_resolution",
                order,
                result_type=LedgerReceipt,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RECORD_RETRY,
                summary="record the resolution carried out by hand",
            )
            await self._record(
                EventKind.FOLLOW_UP_COMPLETED,
                actor,
                data={**completion.model_dump(mode="json"), "task_reason": task.reason},
            )
            case.follow_up = None
            await self._executed(receipt, kind, actor)
            return case.view()

    @complete_follow_up.validator
    def _validate_complete_follow_up(self, actor: Actor, completion: FollowUpCompletion) -> None:
        self._check(Action.COMPLETE_FOLLOW_UP)
        self._check_follow_up()

    def _check_follow_up(self) -> None:
        if self._case.follow_up is None:
            raise ApplicationError(
                "the case has no open follow-up task", {"stage": self._case.stage.value}, type="ActionNotAllowed"
            )

    @workflow.update
    async def choose_exchange(self, actor: Actor, choice: ExchangeChoice) -> CaseView:
        """The customer's answer to an out-of-stock exchange: a similar item or a refund."""
        async with self._acting(Action.CHOOSE_EXCHANGE):
            self._check_exchange_choice(choice)
            case = self._case
            case.exchange_choice = choice
            resumed = [c.name.value for c in case.clocks.values() if c.resume(workflow.now(), case.calendar)]
            await self._record(
                EventKind.EXCHANGE_CHOSEN,
                actor,
                waiting_for="the resolution to be carried out",
                data=choice.model_dump(mode="json"),
            )
            await self._record_resumed(resumed)
            return case.view()

    @choose_exchange.validator
    def _validate_choose_exchange(self, actor: Actor, choice: ExchangeChoice) -> None:
        self._check(Action.CHOOSE_EXCHANGE)
        self._check_exchange_choice(choice)

    def _check_exchange_choice(self, choice: ExchangeChoice) -> None:
        case = self._case
        offer = case.exchange_offer
        if offer is None or case.exchange_choice is not None:
            raise ApplicationError("the case has no open exchange offer", {"stage": case.stage.value}, type="ActionNotAllowed")
        if choice.option == "similar_item" and choice.sku not in offer.similar:
            raise ApplicationError(
                f"{choice.sku} was not offered; offered: {', '.join(offer.similar) or 'none'}",
                {"field": "sku"},
                type="InvalidChoice",
            )

    @workflow.update
    async def record_return_step(self, actor: Actor, signal: ReturnStepSignal) -> CaseView:
        """Logistics or the warehouse reports the next step of the return or repair under way."""
        async with self._acting(Action.RETURN_STEP):
            self._check_return_step(actor, signal)
            case = self._case
            progress = case.returns
            assert progress is not None
            leg = progress.leg
            assert leg is not None
            due = progress.due_at
            now = workflow.now()
            record = progress.advance(signal, actor, now)
            progress.start_leg(now, case.rules.return_deadlines, case.calendar)
            following = progress.leg
            data: dict[str, Any] = {
                **signal.model_dump(mode="json"),
                "resolution": progress.kind.value,
                "leg": leg.name,
                "due_at": due.isoformat() if due else None,
                "late": record.late,
            }
            notify = [
                Notification(
                    recipient="customer",
                    topic="return_progress",
                    body={"step": signal.step.value, "tracking_number": signal.tracking_number, "passed": signal.passed},
                )
            ]
            waiting_for = None
            if following is not None:
                expected = {"steps": [s.value for s in following.steps], "due_at": progress.due_at.isoformat() if progress.due_at else None}
                data["next"] = expected
                waiting_for = following.waiting_for
                notify.append(Notification(recipient=following.sender.value, topic="return_step_expected", body=expected))
            elif progress.complete:
                waiting_for = f"the {self._settled_by(progress)} to be carried out"
            await self._record(EventKind(signal.step.value), actor, waiting_for=waiting_for, data=data, notify=notify)
            if progress.failed_inspection:
                await self._follow_up_failed_inspection(signal)
            return case.view()

    @record_return_step.validator
    def _validate_return_step(self, actor: Actor, signal: ReturnStepSignal) -> None:
        self._check(Action.RETURN_STEP)
        self._check_return_step(actor, signal)

    def _check_return_step(self, actor: Actor, signal: ReturnStepSignal) -> None:
        case = self._case
        progress = case.returns
        if progress is None:
            raise ApplicationError(
                "the case has no return or repair under way", {"stage": case.stage.value}, type="ActionNotAllowed"
            )
        sender = sender_of(signal.step)
        if actor.role is not sender and actor.role not in OVERRIDE_ROLES:
            raise ApplicationError(
                f"the {signal.step.value} step is reported by {sender.value}, not {actor.role.value}",
                {"required_role": sender.value},
                type="NotPermitted",
            )
        why = progress.refusal(signal.step)
        if why is not None:
            leg = progress.leg
            raise ApplicationError(
                why,
                {"stage": case.stage.value, "expected": [s.value for s in leg.steps] if leg else []},
                type="ActionNotAllowed",
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

    # ---- multi-department cases ----------------------------------------------

    @workflow.update
    async def name_departments(self, actor: Actor, naming: DepartmentsNaming) -> CaseView:
        """The head names the lead department and asks each assisting department for a
        contribution by its own deadline; a new lead takes the case from its queue."""
        async with self._acting(Action.NAME_DEPARTMENTS):
            workflow.patched(MULTI_DEPARTMENT)  # marks the history: contribution deadlines may follow
            self._check_naming(naming)
            case = self._case
            now = workflow.now()
            before = case.department
            moved = naming.lead != case.department
            case.department = naming.lead
            case.lead_department = naming.lead
            if moved:
                case.assignee = None
            asked = []
            for assist in naming.assisting:
                target = contribution_target(case.rules.contribution_due, case.priority, assist.due_in_hours)
                contribution = Contribution(
                    department=assist.department,
                    request=assist.request,
                    requested_by=actor.id,
                    requested_at=now,
                    due_at=contribution_due(target, case.calendar, now),
                )
                # A department asked again (an earlier contribution received or waived) gets a new task.
                case.contributions = [c for c in case.contributions if c.department is not assist.department or c.outstanding]
                case.contributions.append(contribution)
                asked.append(
                    {
                        "department": assist.department.value,
                        "request": assist.request,
                        "due_at": contribution.due_at.isoformat(),
                        "target": target.describe(),
                    }
                )
            notify = [
                Notification(
                    recipient=f"department:{a['department']}",
                    topic="contribution_requested",
                    body={"lead": naming.lead.value, "due_at": a["due_at"]},
                )
                for a in asked
            ]
            stage, waiting_for = None, None
            if moved:
                notify.append(Notification(recipient=f"department:{naming.lead.value}", topic="case_assigned"))
                stage, waiting_for = Stage.TRIAGED, f"a {naming.lead.value} handler to accept"
            await self._record(
                EventKind.DEPARTMENTS_NAMED,
                actor,
                stage=stage,
                waiting_for=waiting_for,
                data={
                    "lead": naming.lead.value,
                    "from_department": before.value if before else None,
                    "assisting": asked,
                    "reason": naming.reason,
                },
                notify=notify,
                assisting=self._assisting(),
            )
            return case.view()

    @name_departments.validator
    def _validate_name_departments(self, actor: Actor, naming: DepartmentsNaming) -> None:
        self._check(Action.NAME_DEPARTMENTS)
        self._check_naming(naming)

    def _check_naming(self, naming: DepartmentsNaming) -> None:
        case = self._case
        if naming.lead != case.department and case.stage is Stage.AWAITING_CUSTOMER:
            # The new lead starts from its queue; the open question and paused clocks stay with the old one.
            raise ApplicationError(
                "the case waits for the customer's answer: name a new lead once it has answered",
                {"stage": case.stage.value},
                type="ActionNotAllowed",
            )
        waiting = {c.department for c in outstanding(case.contributions)}
        again = [a.department.value for a in naming.assisting if a.department in waiting]
        if again:
            raise ApplicationError(
                f"a contribution from {', '.join(again)} is already outstanding", {"field": "assisting"}, type="InvalidPlan"
            )
        if naming.lead in waiting:
            raise ApplicationError(
                f"{naming.lead.value} still owes a contribution: it cannot lead", {"field": "lead"}, type="InvalidPlan"
            )

    @workflow.update
    async def contribute(self, actor: Actor, department: Department, submission: ContributionSubmission) -> CaseView:
        async with self._acting(Action.CONTRIBUTE):
            contribution = self._outstanding_from(department)
            self._check_contributor(actor, department)
            case = self._case
            now = workflow.now()
            late = now > contribution.due_at
            contribution.status = ContributionStatus.RECEIVED
            contribution.received_at = now
            contribution.late = late
            contribution.summary = submission.summary
            contribution.findings = submission.findings
            contribution.contributed_by = actor.id
            department_of = case.department.value if case.department else "unrouted"
            lead = f"employee:{case.assignee}" if case.assignee else f"department:{department_of}"
            await self._record(
                EventKind.CONTRIBUTION_RECEIVED,
                actor,
                data={
                    "department": department.value,
                    **submission.model_dump(mode="json"),
                    "due_at": contribution.due_at.isoformat(),
                    "on_time": not late,
                    "late": late,
                    "still_outstanding": [c.department.value for c in outstanding(case.contributions)],
                },
                notify=[
                    Notification(
                        recipient=lead, topic="contribution_received", body={"department": department.value, "late": late}
                    )
                ],
                assisting=self._assisting(),
            )
            return case.view()

    @contribute.validator
    def _validate_contribute(self, actor: Actor, department: Department, submission: ContributionSubmission) -> None:
        self._check(Action.CONTRIBUTE)
        self._outstanding_from(department)
        self._check_contributor(actor, department)

    @workflow.update
    async def waive_contribution(self, actor: Actor, department: Department, waiver: ContributionWaiver) -> CaseView:
        async with self._acting(Action.WAIVE_CONTRIBUTION):
            contribution = self._outstanding_from(department)
            self._check_lead(actor)
            case = self._case
            contribution.status = ContributionStatus.WAIVED
            contribution.waived_at = workflow.now()
            contribution.waived_by = actor.id
            contribution.waiver_reason = waiver.reason
            await self._record(
                EventKind.CONTRIBUTION_WAIVED,
                actor,
                data={
                    "department": department.value,
                    "reason": waiver.reason,
                    "due_at": contribution.due_at.isoformat(),
                    "still_outstanding": [c.department.value for c in outstanding(case.contributions)],
                },
                notify=[
                    Notification(
                        recipient=f"department:{department.value}", topic="contribution_waived", body={"reason": waiver.reason}
                    )
                ],
                assisting=self._assisting(),
            )
            return case.view()

    @waive_contribution.validator
    def _validate_waive_contribution(self, actor: Actor, department: Department, waiver: ContributionWaiver) -> None:
        self._check(Action.WAIVE_CONTRIBUTION)
        self._outstanding_from(department)
        self._check_lead(actor)

    def _outstanding_from(self, department: Department) -> Contribution:
        for contribution in outstanding(self._case.contributions):
            if contribution.department is department:
                return contribution
        raise ApplicationError(
            f"no contribution from {department.value} is outstanding on this case",
            {"stage": self._case.stage.value, "department": department.value},
            type="ActionNotAllowed",
        )

    def _check_contributor(self, actor: Actor, department: Department) -> None:
        """A handler contributes for their own department; supervisors and the head for any."""
        if actor.role is Role.HANDLER and actor.department is not department:
            raise ApplicationError(
                f"only a {department.value} handler (or a supervisor or the head) contributes for {department.value}",
                {"department": department.value},
                type="NotPermitted",
            )

    def _check_lead(self, actor: Actor) -> None:
        """The lead handler (the case's assignee) waives; supervisors and the head may too."""
        case = self._case
        if actor.role is Role.HANDLER and actor.id != case.assignee:
            raise ApplicationError(
                "only the lead handler (the case's assignee), a supervisor or the head may go on without a contribution",
                type="NotPermitted",
            )

    def _check_contributions_in(self) -> None:
        """A plan waits for every contribution, or for the lead's decision to go without it."""
        case = self._case
        waiting = outstanding(case.contributions)
        if waiting:
            names = [c.department.value for c in waiting]
            raise ApplicationError(
                f"waiting for contributions from {', '.join(names)}: each department contributes "
                f"(POST /cases/{case.number}/contributions/{{department}}) or the lead handler goes on without it "
                f"(POST /cases/{case.number}/contributions/{{department}}/waive)",
                {"stage": case.stage.value, "pending_departments": names},
                type="ActionNotAllowed",
            )

    async def _contribution_overdue(self, item: DueItem) -> None:
        """A contribution's deadline passed: its department's supervisor hears of it; a late
        contribution is still taken (and marked late)."""
        case = self._case
        contribution = next(
            c for c in case.contributions if c.status is ContributionStatus.PENDING and c.department.value == item.department
        )
        contribution.status = ContributionStatus.OVERDUE
        contribution.overdue_at = workflow.now()
        department = contribution.department.value
        await self._record(
            EventKind.CONTRIBUTION_OVERDUE,
            SYSTEM_ACTOR,
            data={
                "department": department,
                "request": contribution.request,
                "due_at": contribution.due_at.isoformat(),
                "escalated_to": f"supervisor:{department}",
            },
            notify=[
                Notification(recipient=f"supervisor:{department}", topic="contribution_overdue", body={"department": department}),
                Notification(recipient=f"department:{department}", topic="contribution_overdue", body={"department": department}),
            ],
            assisting=self._assisting(),
        )

    def _assisting(self) -> dict[Department, ContributionStatus]:
        """Each assisting department and where its (latest) contribution stands, for the record."""
        return {c.department: c.status for c in self._case.contributions}

    # ---- steps the workflow takes by itself ---------------------------------

    async def _receive(self, actor: Actor) -> None:
        case = self._case
        case.suggestion = await self._own_activity(
            "suggest_triage",
            TriageRequest(number=case.number, intake=case.intake),
            result_type=TriageSuggestion,
            start_to_close_timeout=timedelta(seconds=10),
            summary="suggest category and department",
        )
        data: dict[str, Any] = {"channel": case.intake.channel.value, "suggestion": case.suggestion.model_dump(mode="json")}
        if workflow.patched(FIRST_REPLY_BY_PRIORITY):
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

    async def _execute(self) -> None:
        case = self._case
        assert case.plan is not None
        resolution = case.plan.plan.resolution
        # The approval event's sequence number identifies this execution for good.
        order = self._order()
        if workflow.patched(EXECUTION_ROUTES):
            if case.returns is not None:
                order = self._settlement(order)  # every step is done: what settles the return or repair
            if case.exchange_choice is not None:
                order = self._chosen(order)
            elif case.returns is None and order.type in STEPPED_RESOLUTIONS and workflow.patched(RETURN_STEPS):
                await self._authorise_return(order)
                return  # logistics and the warehouse report each step
            elif order.type is ResolutionType.EXCHANGE and workflow.patched(EXCHANGE_STOCK):
                stock = await workflow.execute_activity(
                    "check_stock",
                    case.intake.product.sku,
                    result_type=StockCheck,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RECORD_RETRY,
                    summary="check stock for the exchange",
                )
                if not stock.in_stock:
                    await self._offer_alternatives(stock)
                    return  # the customer chooses a similar item or a refund
                order = order.model_copy(update={"sku": stock.sku})
            routed = await self._execute_on_routes(order)
            if routed is None:
                return  # a follow-up task waits for a person
            receipt = routed
        else:
            receipt = await workflow.execute_activity(
                "execute_resolution",
                order,
                result_type=LedgerReceipt,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=EXECUTION_RETRY,
                summary=f"carry out {resolution.type.value}",
            )
        await self._executed(receipt, order.type)

    def _ready_to_execute(self) -> bool:
        case = self._case
        return (
            case.stage is Stage.EXECUTING
            and case.follow_up is None
            and (case.exchange_offer is None or case.exchange_choice is not None)
            and (case.returns is None or case.returns.complete)
        )

    async def _authorise_return(self, order: ResolutionOrder) -> None:
        """The approved return or repair starts: the customer gets the instructions and
        logistics is asked for a label or a pickup; each step then waits by its deadline."""
        case = self._case
        assert case.plan is not None
        now = workflow.now()
        after = (case.plan.plan.resolution.after_return or AfterReturn.REFUND) if order.type is ResolutionType.RETURN else None
        progress = ReturnProgress(kind=order.type, key=order.key, after_return=after, authorised_at=now)
        progress.start_leg(now, case.rules.return_deadlines, case.calendar)
        case.returns = progress
        leg = progress.leg
        assert leg is not None
        expected = {"steps": [s.value for s in leg.steps], "due_at": progress.due_at.isoformat() if progress.due_at else None}
        await self._record(
            EventKind.RETURN_AUTHORISED,
            SYSTEM_ACTOR,
            waiting_for=leg.waiting_for,
            data={
                "resolution": order.type.value,
                "after_return": after.value if after else None,
                "key": order.key,
                "legs": [each.name for each in progress.legs],
                "next": expected,
            },
            notify=[
                Notification(
                    recipient="customer",
                    topic="return_instructions",
                    body={"resolution": order.type.value, "number": case.number, "options": expected["steps"]},
                ),
                Notification(recipient=leg.sender.value, topic="return_step_expected", body={"resolution": order.type.value} | expected),
            ],
        )

    @staticmethod
    def _settled_by(progress: ReturnProgress) -> str:
        if progress.kind is ResolutionType.REPAIR:
            return "repair"
        return (progress.after_return or AfterReturn.REFUND).value

    def _settlement(self, order: ResolutionOrder) -> ResolutionOrder:
        """What settles a return or repair whose steps are all done, keyed by its authorisation:
        a refund (to the original route first) or an exchange, or the repair itself."""
        case = self._case
        progress = case.returns
        assert progress is not None
        update: dict[str, Any] = {"key": progress.key, "at": workflow.now()}
        if progress.kind is ResolutionType.RETURN:
            if progress.after_return is AfterReturn.EXCHANGE:
                update |= {"type": ResolutionType.EXCHANGE, "amount": None}
            else:
                amount = order.amount if order.amount is not None else case.intake.order.paid_amount
                update |= {"type": ResolutionType.REFUND, "amount": amount, "refund_kind": RefundKind.FULL.value}
        return order.model_copy(update=update)

    async def _follow_up_failed_inspection(self, signal: ReturnStepSignal) -> None:
        """A returned item that failed the quality check is not refunded automatically:
        a supervisor decides and records what was done (the follow-up task)."""
        case = self._case
        progress = case.returns
        assert progress is not None
        reason = "the returned item failed the quality check" + (f": {signal.note}" if signal.note else "")
        case.follow_up = FollowUpTask(
            reason=reason, created_at=workflow.now(), resolution_key=progress.key, resolution_type=progress.kind, amount=None
        )
        await self._record(
            EventKind.FOLLOW_UP_TASK_CREATED,
            SYSTEM_ACTOR,
            waiting_for=f"a supervisor to decide on the {progress.kind.value} after the failed quality check (follow-up task)",
            data={
                "reason": reason,
                "resolution": progress.kind.value,
                "amount": None,
                "failed_routes": [],
                "assigned_to": "supervisor",
            },
            notify=[
                Notification(recipient="supervisor", topic="follow_up_task", body={"resolution": progress.kind.value}),
                Notification(recipient="customer", topic="resolution_delayed"),
            ],
        )

    async def _offer_alternatives(self, stock: StockCheck) -> None:
        case = self._case
        now = workflow.now()
        paid = case.intake.order
        case.exchange_offer = ExchangeOffer(
            sku=stock.sku, similar=stock.similar, refund_amount=paid.paid_amount, currency=paid.currency, offered_at=now
        )
        if workflow.patched(EXCHANGE_OFFER_TIMEOUT):
            wait = case.rules.exchange_choice_reminder_after
            case.exchange_offer.remind_at = wait.add(case.calendar, now, wait.budget)
        paused = [c.name.value for c in case.clocks.values() if c.pause(now, case.calendar)]
        await self._record(
            EventKind.EXCHANGE_OUT_OF_STOCK,
            SYSTEM_ACTOR,
            waiting_for="the customer's choice: a similar item or a refund",
            data={"sku": stock.sku, "similar": stock.similar, "refund_amount": str(paid.paid_amount)},
            notify=[Notification(recipient="customer", topic="exchange_out_of_stock", body={"similar": stock.similar})],
        )
        if paused:
            await self._record(EventKind.SLA_PAUSED, SYSTEM_ACTOR, data={"clocks": paused})

    def _chosen(self, order: ResolutionOrder) -> ResolutionOrder:
        """The order the customer's answer to an exchange offer asks for."""
        case = self._case
        offer, choice = case.exchange_offer, case.exchange_choice
        assert offer is not None and choice is not None
        case.exchange_offer = case.exchange_choice = None
        if choice.option == "refund":
            return order.model_copy(
                update={
                    "type": ResolutionType.REFUND,
                    "amount": offer.refund_amount,
                    "currency": offer.currency,
                    "refund_kind": RefundKind.FULL.value,
                }
            )
        return order.model_copy(update={"sku": choice.sku})

    async def _executed(self, receipt: LedgerReceipt, kind: ResolutionType, actor: Actor = SYSTEM_ACTOR) -> None:
        case = self._case
        case.receipt = receipt
        case.returns = None  # settled: its steps stay on the timeline
        now = workflow.now()
        for clock in case.clocks.values():
            if clock.name not in TASK_CLOCKS:
                clock.meet(now)
        self._start_clock(ClockName.SURVEY, now)
        if workflow.patched(RESULT_CLOCK):
            # An agent tells the customer the result within a working day (the survey answer also meets it).
            case.result_told_at = None
            self._start_clock(ClockName.RESULT, now)
        await self._record(
            EventKind.RESOLUTION_EXECUTED,
            actor,
            stage=Stage.AWAITING_FEEDBACK,
            waiting_for="the customer's satisfaction score",
            data=receipt.model_dump(mode="json"),
            notify=[Notification(recipient="customer", topic="result_and_survey", body={"resolution": kind.value})],
        )

    def _order(self) -> ResolutionOrder:
        case = self._case
        assert case.plan is not None
        resolution = case.plan.plan.resolution
        refund = resolution.type is ResolutionType.REFUND
        return ResolutionOrder(
            key=f"{case.number}:{case.seq}",
            number=case.number,
            type=resolution.type,
            amount=resolution.amount,
            currency=resolution.currency,
            at=workflow.now(),
            refund_kind=(resolution.refund_kind or RefundKind.FULL).value if refund else None,
            payment_route=case.intake.order.payment_route,
        )

    async def _execute_on_routes(self, order: ResolutionOrder) -> LedgerReceipt | None:
        """Each route in turn until one carries the resolution out; None when none did,
        after opening a follow-up task (stage `executing`, waiting for a person)."""
        routes: tuple[str | None, ...] = REFUND_ROUTES if order.type is ResolutionType.REFUND else (None,)
        failed: list[dict[str, str | None]] = []
        for index, route in enumerate(routes):
            try:
                return await workflow.execute_activity(
                    "execute_resolution",
                    order.model_copy(update={"route": route}),
                    result_type=LedgerReceipt,
                    start_to_close_timeout=timedelta(minutes=1),
                    retry_policy=EXECUTION_RETRY,
                    summary=f"carry out {order.type.value}" + (f" via the {route} route" if route else ""),
                )
            except ActivityError as error:
                cause = error.cause
                if not isinstance(cause, ApplicationError) or cause.type not in ROUTE_FAILURES:
                    raise
                failed.append({"route": route, "reason": cause.message})
                following = routes[index + 1] if index + 1 < len(routes) and cause.type == "RouteFailed" else None
                await self._record(
                    EventKind.EXECUTION_ROUTE_FAILED,
                    SYSTEM_ACTOR,
                    data={"resolution": order.type.value, "route": route, "reason": cause.message, "next_route": following},
                )
                if following is None:
                    break
        case = self._case
        reason = f"the {order.type.value} could not be carried out on any route: " + "; ".join(
            f"{f['route'] or 'default'}: {f['reason']}" for f in failed
        )
        case.follow_up = FollowUpTask(
            reason=reason,
            created_at=workflow.now(),
            resolution_key=order.key,
            resolution_type=order.type,
            amount=order.amount,
            failed_routes=failed,
        )
        await self._record(
            EventKind.FOLLOW_UP_TASK_CREATED,
            SYSTEM_ACTOR,
            waiting_for=f"a supervisor to carry out the {order.type.value} by hand (follow-up task)",
            data={
                "reason": reason,
                "resolution": order.type.value,
                "amount": str(order.amount) if order.amount is not None else None,
                "failed_routes": failed,
                "assigned_to": "supervisor",
            },
            notify=[
                Notification(recipient="supervisor", topic="follow_up_task", body={"resolution": order.type.value}),
                Notification(recipient="customer", topic="resolution_delayed"),
            ],
        )
        return None

    async def _wait_for_change_or_deadline(self) -> None:
        """Sleep until something happens or the next due item, whichever comes first:
        one durable timer, labelled with what it waits for."""
        seen = self._changes
        item = self._next_item()
        if item is None:
            await workflow.wait_condition(lambda: self._changes != seen)
            return
        remaining = item.at - workflow.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: self._changes != seen, timeout=remaining, timeout_summary=self._summary(item)
                )
                return
            except TimeoutError:
                pass
        async with self._lock:
            # A handler may have met, paused or replaced the clock while we waited for the lock.
            if self._next_item() == item:
                await self._on_due_together(item)

    async def _on_due_together(self, first: DueItem) -> None:
        """`first` and every item already due with it, recorded with one activity. Alone, it is
        recorded as before the patch, which is asked only when a second item is due: a case
        whose timers fire on time carries no marker."""
        now = workflow.now()
        self._batch = []
        try:
            await self._on_due(first)
            for _ in range(MAX_COALESCED - 1):
                item = self._next_item()
                if item is None or item.at > now or not workflow.patched(COALESCE_DUE_ITEMS):
                    break
                await self._on_due(item)
        finally:
            batch, self._batch = self._batch, None
        if len(batch) > 1 and not workflow.patched(COALESCE_DUE_ITEMS):
            # One due item may record several events (a default that also resumes clocks);
            # recorded before this patch, each was its own write, in order.
            for transition in batch:
                await self._write(transition)
        elif len(batch) == 1:
            await self._write(batch[0])
        elif batch:
            self._publish()
            try:
                await self._own_activity(
                    "record_transitions",
                    batch,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RECORD_RETRY,
                    summary="record " + ", ".join(t.kind.value for t in batch),
                )
            except (ActivityError, ApplicationError) as error:
                await self._refused(batch, error)
            self._recorded = batch[-1].seq

    def _next_item(self) -> DueItem | None:
        case = self._case
        item = next_due(case.clocks, case.policy, case.calendar)
        fix = case.fix_check
        if fix is not None and fix.status is FixCheckStatus.SCHEDULED and (item is None or fix.ask_at < item.at):
            item = DueItem(kind=DueKind.FIX_CHECK, clock=None, at=fix.ask_at)
        update_at = case.next_update_at
        if update_at is not None and (item is None or update_at < item.at):
            item = DueItem(kind=DueKind.UPDATE, clock=None, at=update_at)
        if case.contributions and case.stage in OPEN_STAGES and workflow.patched(MULTI_DEPARTMENT):
            due = next_overdue(case.contributions)
            if due is not None and (item is None or due.due_at < item.at):
                item = DueItem(kind=DueKind.CONTRIBUTION, clock=None, at=due.due_at, department=due.department.value)
        waiting = self._execution_due()
        if waiting is not None and (item is None or waiting.at < item.at):
            return waiting
        return item

    def _execution_due(self) -> DueItem | None:
        """An execution's wait with a deadline: the return step due from logistics or the
        warehouse, or the reminder or default of an unanswered exchange offer."""
        case = self._case
        offer = case.exchange_offer
        if offer is not None and case.exchange_choice is None:
            if offer.reminded_at is None and offer.remind_at is not None:
                return DueItem(kind=DueKind.EXCHANGE_REMINDER, clock=None, at=offer.remind_at)
            if offer.default_at is not None:
                return DueItem(kind=DueKind.EXCHANGE_DEFAULT, clock=None, at=offer.default_at)
        progress = case.returns
        if progress is not None and progress.leg is not None and progress.due_at is not None and not progress.overdue:
            return DueItem(kind=DueKind.RETURN_STEP, clock=None, at=progress.due_at)
        return None

    def _summary(self, item: DueItem) -> str:
        case = self._case
        when = item.at.astimezone(case.calendar.zone).isoformat(timespec="minutes")
        priority = f" {case.priority.value}" if case.priority else ""
        if item.kind is DueKind.UPDATE:
            return f"progress update to the customer due {when}"
        if item.kind is DueKind.RETURN_STEP and case.returns is not None and case.returns.leg is not None:
            leg = case.returns.leg
            return f"{case.returns.kind.value} step {' or '.join(s.value for s in leg.steps)} due from {leg.sender.value} {when}"
        if item.kind is DueKind.EXCHANGE_REMINDER:
            return f"reminder of the unanswered exchange offer due {when}"
        if item.kind is DueKind.EXCHANGE_DEFAULT:
            return f"unanswered exchange offer becomes a refund {when}"
        if item.kind is DueKind.FIX_CHECK:
            return f"fix check to the customer due {when}"
        if item.kind is DueKind.CONTRIBUTION:
            return f"contribution from {item.department} due {when}"
        if item.kind is DueKind.WARNING:
            return f"SLA {label(item.clock)}{priority} warning at {item.fraction:.0%} due {when}"
        if item.kind is DueKind.CLIMB:
            rung = self._rung(case.clocks[item.clock].escalation_level + 1)
            return f"SLA {label(item.clock)}{priority} escalation to {rung} due {when}"
        if item.clock is ClockName.SURVEY:
            return f"survey window closes {when}"
        if item.clock is ClockName.FIX_CHECK:
            return f"fix check answer window closes {when}"
        return f"SLA {label(item.clock)}{priority} due {when}"

    def _rung(self, level: int) -> str:
        ladder = self._case.policy.ladder
        return ladder[min(level, len(ladder)) - 1]

    async def _on_due(self, item: DueItem) -> None:
        case = self._case
        now = workflow.now()
        if item.kind is DueKind.CONTRIBUTION:
            await self._contribution_overdue(item)
            return
        if item.kind is DueKind.UPDATE:
            await self._record(
                EventKind.PROGRESS_UPDATE,
                SYSTEM_ACTOR,
                data={"stage": case.stage.value, "waiting_for": case.waiting_for},
                notify=[Notification(recipient="customer", topic="progress", body={"stage": case.stage.value})],
            )
            return
        if item.kind in EXECUTION_DUE_KINDS:
            await self._on_execution_due(item)
            return
        if item.kind is DueKind.FIX_CHECK:
            await self._send_fix_check()
            return
        assert item.clock is not None
        clock = case.clocks[item.clock]
        if item.clock is ClockName.FIX_CHECK:
            clock.meet(now)
            assert case.fix_check is not None
            case.fix_check.status = FixCheckStatus.UNANSWERED
            await self._record(
                EventKind.FIX_CHECK_UNANSWERED,
                SYSTEM_ACTOR,
                waiting_for="archiving",
                data={"due_at": clock.due_at.isoformat()},
            )
            return
        if item.clock is ClockName.SURVEY:
            clock.meet(now)
            case.outcome = Outcome.NO_RESPONSE
            case.closed_at = now
            await self._record(
                EventKind.SURVEY_EXPIRED,
                SYSTEM_ACTOR,
                stage=Stage.CLOSED,
                waiting_for="archiving",
                data={"due_at": clock.due_at.isoformat()},
            )
            return
        role, person = self._responsible(item.clock)
        base = {"clock": item.clock.value, "due_at": clock.due_at.isoformat(), "responsible_role": role, "responsible_id": person}
        if case.department:
            base["department"] = case.department.value
        if item.kind is DueKind.WARNING:
            clock.warnings_sent += 1
            recipient = f"employee:{person}" if person else (f"department:{case.department.value}" if role == "handler" and case.department else role)
            await self._record(
                EventKind.SLA_WARNING,
                SYSTEM_ACTOR,
                data=base | {"fraction": item.fraction},
                notify=[Notification(recipient=recipient, topic="sla_warning", body={"clock": item.clock.value, "fraction": item.fraction})],
            )
        elif item.kind is DueKind.BREACH:
            clock.breach(now, case.policy, case.calendar)
            rung = self._rung(1)
            await self._record(
                EventKind.SLA_BREACHED,
                SYSTEM_ACTOR,
                data=base | {"escalated_to": rung, "escalation_level": 1},
                notify=[
                    Notification(recipient=rung, topic="sla_breached", body={"clock": item.clock.value}),
                    Notification(recipient="customer", topic="delay_notice"),
                ],
            )
        else:
            clock.climb(now, case.policy, case.calendar)
            rung = self._rung(clock.escalation_level)
            await self._record(
                EventKind.SLA_ESCALATED,
                SYSTEM_ACTOR,
                data=base | {"escalated_to": rung, "escalation_level": clock.escalation_level},
                notify=[Notification(recipient=rung, topic="sla_escalated", body={"clock": item.clock.value})],
            )

    async def _on_execution_due(self, item: DueItem) -> None:
        case = self._case
        now = workflow.now()
        if item.kind is DueKind.RETURN_STEP:
            # Recorded once per step and the supervisor told; the case keeps waiting for the step.
            progress = case.returns
            assert progress is not None and progress.leg is not None
            leg = progress.leg
            progress.overdue = True
            body = {"resolution": progress.kind.value, "leg": leg.name, "expected": [s.value for s in leg.steps]}
            await self._record(
                EventKind.RETURN_STEP_OVERDUE,
                SYSTEM_ACTOR,
                data=body | {"due_at": item.at.isoformat(), "responsible_role": leg.sender.value, "escalated_to": "supervisor"},
                notify=[
                    Notification(recipient="supervisor", topic="return_step_overdue", body=body),
                    Notification(recipient=leg.sender.value, topic="return_step_overdue", body=body),
                ],
            )
            return
        offer = case.exchange_offer
        assert offer is not None
        if item.kind is DueKind.EXCHANGE_REMINDER:
            wait = case.rules.exchange_choice_default_after
            offer.reminded_at = now
            offer.default_at = wait.add(case.calendar, now, wait.budget)
            body = {"similar": offer.similar, "otherwise": "refund", "default_at": offer.default_at.isoformat()}
            await self._record(
                EventKind.EXCHANGE_CHOICE_REMINDED,
                SYSTEM_ACTOR,
                data=body | {"offered_at": offer.offered_at.isoformat()},
                notify=[Notification(recipient="customer", topic="exchange_choice_reminder", body=body)],
            )
            return
        # Still no answer: the refund the offer included, so the case is never left waiting.
        case.exchange_choice = ExchangeChoice(option="refund")
        resumed = [c.name.value for c in case.clocks.values() if c.resume(now, case.calendar)]
        await self._record(
            EventKind.EXCHANGE_CHOICE_DEFAULTED,
            SYSTEM_ACTOR,
            waiting_for="the resolution to be carried out",
            data={
                "option": "refund",
                "refund_amount": str(offer.refund_amount),
                "offered_at": offer.offered_at.isoformat(),
                "reminded_at": offer.reminded_at.isoformat() if offer.reminded_at else None,
            },
            notify=[
                Notification(recipient="customer", topic="exchange_choice_defaulted", body={"option": "refund"}),
                Notification(recipient="agent", topic="exchange_choice_defaulted"),
            ],
        )
        await self._record_resumed(resumed)
    async def _send_fix_check(self) -> None:
        """Days after a satisfied close: ask the customer whether the fix held."""
        case = self._case
        fix = case.fix_check
        assert fix is not None
        now = workflow.now()
        fix.status = FixCheckStatus.SENT
        fix.sent_at = now
        clock = SlaClock.start(ClockName.FIX_CHECK, fix.answer_within, now, case.calendar)
        case.clocks[ClockName.FIX_CHECK] = clock
        await self._record(
            EventKind.FIX_CHECK_SENT,
            SYSTEM_ACTOR,
            waiting_for="the customer's answer to the fix check",
            data={"closed_at": case.closed_at.isoformat() if case.closed_at else None, "answer_due_at": clock.due_at.isoformat()},
            notify=[Notification(recipient="customer", topic="fix_check", body={"answer_due_at": clock.due_at.isoformat()})],
        )

    def _responsible(self, clock: ClockName) -> tuple[str, str | None]:
        """Who a miss is recorded against: an agent for what customer service owes the customer
        (first reply, telling the result, a call-back), else the handler."""
        if clock in (ClockName.FIRST_REPLY, ClockName.RESULT, ClockName.CALL_BACK):
            return Role.AGENT.value, None
        return Role.HANDLER.value, self._case.assignee

    def _target(self, name: ClockName):  # noqa: ANN202 - Target | None
        case = self._case
        # Before triage: the suggested priority (patch first-reply-by-priority), else a normal case.
        priority = case.priority or case.provisional_priority or Priority.P3
        return case.policy.target(name, priority, case.intake.customer.tier, case.intake.channel)

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
        assert suggestion is not None
        safety = any(reason.startswith("safety hazard") for reason in suggestion.reasons)
        why = " for a safety hazard" if safety else ""
        raise ApplicationError(
            f"the case was suggested {suggested.value}{why}: lowering it to {decision.priority.value} "
            "needs an override_reason saying why",
            {"field": "override_reason", "suggested_priority": suggested.value},
            type="InvalidTriage",
        )

    def _start_clock(self, name: ClockName, at) -> None:  # noqa: ANN001 - datetime
        target = self._target(name)
        if target is not None:
            self._case.clocks[name] = SlaClock.start(name, target, at, self._case.calendar)
        else:
            self._case.clocks.pop(name, None)

    def _meet(self, name: ClockName, at) -> None:  # noqa: ANN001 - datetime
        clock = self._case.clocks.get(name)
        if clock is not None:
            clock.meet(at)

    # ---- helpers -----------------------------------------------------------

    def _check(self, action: Action) -> None:
        try:
            check_allowed(action, self._case.stage)
        except ActionNotAllowed as error:
            raise _not_allowed(error) from None

    def _check_plan(self, plan: SolutionPlan) -> None:
        resolution = plan.resolution
        if resolution.type not in MONEY_RESOLUTIONS:
            return
        paid = self._case.intake.order.paid_amount
        if resolution.amount is None:
            raise ApplicationError(
                f"a {resolution.type.value} needs an amount", {"field": "resolution.amount"}, type="InvalidPlan"
            )
        if resolution.amount > paid:
            raise ApplicationError(
                f"{resolution.type.value} of {resolution.amount} exceeds the {paid} paid for the order",
                {"field": "resolution.amount"},
                type="InvalidPlan",
            )

    def _check_extension(self, extension: DeadlineExtension) -> None:
        case = self._case
        clock = case.clocks.get(extension.clock)
        if clock is None or clock.state not in (ClockState.RUNNING, ClockState.PAUSED):
            state = clock.state.value if clock else "not running"
            raise ApplicationError(
                f"the {extension.clock.value} deadline is {state}: only a deadline not yet missed can be extended",
                {"stage": case.stage.value},
                type="ActionNotAllowed",
            )
        limit = case.policy.max_budget(clock.name, case.priority or Priority.P3, clock.target)
        if clock.target.budget + extension.extra > limit.budget:
            raise ApplicationError(
                f"the {extension.clock.value} target may grow to at most {limit.describe()}",
                {"field": "extra"},
                type="InvalidExtension",
            )

    async def _record_resumed(self, resumed: list[str]) -> None:
        """The clocks that ran again, with their new due instants (none: nothing to record)."""
        if resumed:
            due = {name: self._case.clocks[ClockName(name)].due_at.isoformat() for name in resumed}
            await self._record(EventKind.SLA_RESUMED, SYSTEM_ACTOR, data={"clocks": resumed, "due_at": due})

    def _close_as(self, outcome: Outcome) -> None:
        """Closed before any resolution: every deadline still open is met now."""
        case = self._case
        case.outcome = outcome
        case.closed_at = workflow.now()
        for clock in case.clocks.values():
            if clock.name not in TASK_CLOCKS:
                clock.meet(case.closed_at)

    def _approver(self) -> Role:
        case = self._case
        return case.rules.approver(case.priority, case.rejections)

    def _check_grade(self, actor: Actor) -> None:
        """Validators only: a rule that cases recorded before it never checked."""
        approver = self._approver()
        if actor.role is not approver and actor.role is not Role.HEAD:
            grade = self._case.priority.value if self._case.priority else "an ungraded"
            why = "after a second rejection" if self._case.rejections >= self._case.rules.rejections_before_head else f"for a {grade} case"
            raise ApplicationError(
                f"{why} the plan needs approval by {APPROVER_NAMES[approver]} (role {approver.value})",
                {"required_role": approver.value},
                type="NotPermitted",
            )

    def _check_return_amount(self, plan: SolutionPlan) -> None:
        """Validators only: a return refunds at most what was paid (a rule older cases never checked)."""
        resolution = plan.resolution
        paid = self._case.intake.order.paid_amount
        if resolution.type is ResolutionType.RETURN and resolution.amount is not None and resolution.amount > paid:
            raise ApplicationError(
                f"a return refunding {resolution.amount} exceeds the {paid} paid for the order",
                {"field": "resolution.amount"},
                type="InvalidPlan",
            )

    def _check_compensation_cap(self, plan: SolutionPlan) -> None:
        resolution = plan.resolution
        if resolution.type is not ResolutionType.COMPENSATION or resolution.amount is None:
            return
        rules = self._case.rules
        cap = rules.compensation_cap(self._case.intake.order.paid_amount)
        if resolution.amount > cap:
            raise ApplicationError(
                f"compensation of {resolution.amount} exceeds the cap of {rules.compensation_cap_percent}% "
                f"of the price paid ({cap} {resolution.currency})",
                {"field": "resolution.amount", "cap": str(cap), "cap_percent": str(rules.compensation_cap_percent)},
                type="InvalidPlan",
            )

    def _check_approver(self, actor: Actor) -> None:
        plan = self._case.plan
        if plan is not None and plan.author.id == actor.id:
            raise ApplicationError("the author of a plan may not approve or reject it", type="NotPermitted")

    @asynccontextmanager
    async def _acting(self, action: Action) -> AsyncIterator[None]:
        """Runs an action once the case is recorded, under the case lock, checking
        the stage again: another action may have moved it since validation."""
        await workflow.wait_condition(lambda: self._case.seq > 0)
        async with self._lock:
            self._check(action)
            yield

    def _snapshot(self) -> CaseSnapshot:
        case = self._case
        return CaseSnapshot(
            stage=case.stage,
            categories=case.categories,
            priority=case.priority,
            department=case.department,
            assignee=case.assignee,
            reopen_count=case.reopen_count,
            escalation_level=case.escalation_level,
            sla_state=case.sla_state,
            next_deadline=case.next_deadline,
            outcome=case.outcome,
            closed_at=case.closed_at,
            policy_version=case.policy.version,
            calendar_version=case.calendar.version,
            escalations=escalations(case.clocks, case.policy.ladder),
        )

    async def _record(
        self,
        kind: EventKind,
        actor: Actor,
        *,
        stage: Stage | None = None,
        waiting_for: str | None = None,
        data: dict[str, Any] | None = None,
        notify: list[Notification] | None = None,
        archive: bool = False,
        assisting: dict[Department, ContributionStatus] | None = None,
    ) -> None:
        case = self._case
        now = workflow.now()
        notifications = list(notify or [])
        if stage is not None and stage is not case.stage and stage in CUSTOMER_VISIBLE_STAGES:
            if not any(n.recipient == "customer" for n in notifications):
                notifications.append(Notification(recipient="customer", topic="progress", body={"stage": stage.value}))
        if stage is not None:
            case.stage = stage
        if waiting_for is not None:
            case.waiting_for = waiting_for
        if case.stage is Stage.ARCHIVED:
            case.waiting_for = "nothing: archived"
        case.seq += 1
        case.updated_at = now
        self._changes += 1
        if case.stage not in UPDATED_STAGES:
            case.next_update_at = None
        elif case.next_update_at is None or any(n.recipient == "customer" for n in notifications):
            cadence = case.policy.update_cadence(case.priority, case.intake.customer.tier)
            case.next_update_at = cadence.add(case.calendar, now, cadence.budget)
        first = case.seq == 1
        categories_changed = self._recorded_categories != case.categories
        self._recorded_categories = list(case.categories)
        transition = Transition(
            number=case.number,
            seq=case.seq,
            kind=kind,
            at=now,
            actor=actor,
            data=data or {},
            snapshot=self._snapshot(),
            intake=case.intake if first else None,
            received_at=case.received_at if first else None,
            notifications=notifications,
            archive=case.model_dump(mode="json") if archive else None,
            categories_changed=categories_changed,
            assisting=assisting,
        )
        if self._batch is not None:  # written with the other items due now
            self._batch.append(transition)
            return
        await self._write(transition)

    async def _write(self, transition: Transition) -> None:
        self._publish()
        options: dict[str, Any] = {
            "start_to_close_timeout": timedelta(seconds=30),
            "retry_policy": RECORD_RETRY,
            "summary": f"record {transition.kind.value}",
        }
        try:
            if workflow.current_update_info() is not None and workflow.patched(RECORD_AFTER_ACCEPT):
                await workflow.execute_activity("record_transition", transition, **options)
            else:
                await self._own_activity("record_transition", transition, **options)
        except (ActivityError, ApplicationError) as error:
            await self._refused([transition], error)
        self._recorded = transition.seq

    async def _refused(self, transitions: list[Transition], error: ActivityError | ApplicationError) -> None:
        """The database refused these transitions for good: note it (without their payload,
        which is what was refused) and wait here for an engineer, holding the case lock so
        nothing later is recorded out of order. Any other failure goes on as before. (A local
        activity's failure arrives as the activity's own ApplicationError, a regular one's
        wrapped in ActivityError.)"""
        cause = error.cause if isinstance(error, ActivityError) else error
        if not isinstance(cause, ApplicationError) or cause.type != "RecordRefused" or not workflow.patched(RECORD_REFUSED):
            raise error
        first = transitions[0]
        reason = cause.message  # names the event and the database's error class, never the refused value
        self._refusal = reason
        await self._own_activity(
            "record_failure",
            {"number": first.number, "seq": first.seq, "kind": first.kind.value, "reason": reason, "at": workflow.now().isoformat()},
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORD_RETRY,
            summary=f"note that the database refused {first.kind.value}",
        )
        workflow.set_current_details(f"**Record refused**: {self._refusal}. Waiting for an engineer.")
        await workflow.wait_condition(lambda: False)

    @staticmethod
    async def _own_activity(name: str, arg: Any, **options: Any) -> Any:
        """An activity on our own database: local once the case carries the patch."""
        if workflow.patched(LOCAL_SIDE_EFFECTS):
            return await workflow.execute_local_activity(name, arg, **options)
        return await workflow.execute_activity(name, arg, **options)

    def _publish(self) -> None:
        """Search attributes and current details for operators in Temporal UI."""
        case = self._case
        deadline = case.next_deadline

        def keyword(key: Any, value: str | None) -> SearchAttributeUpdate:
            return key.value_set(value) if value else key.value_unset()

        workflow.upsert_search_attributes(
            [
                sa.CASE_STAGE.value_set(case.stage.value),
                keyword(sa.CASE_PRIORITY, case.priority.value if case.priority else None),
                sa.CASE_CATEGORY.value_set([c.value for c in case.categories]),
                keyword(sa.DEPARTMENT, case.department.value if case.department else None),
                sa.SLA_STATE.value_set(case.sla_state.value),
                sa.ESCALATION_LEVEL.value_set(case.escalation_level),
                sa.REOPEN_COUNT.value_set(case.reopen_count),
                sa.NEXT_DEADLINE.value_set(deadline) if deadline else sa.NEXT_DEADLINE.value_unset(),
                keyword(sa.ASSIGNEE, case.assignee),
                sa.CHANNEL.value_set(case.intake.channel.value),
                sa.CUSTOMER_TIER.value_set(case.intake.customer.tier.value),
            ]
        )
        lines = [f"**{case.stage.value}**: waiting for {case.waiting_for}."]
        zone = case.calendar.zone
        for clock in case.clocks.values():
            if clock.state is ClockState.BREACHED and clock.breached_at is not None:
                rung = self._rung(clock.escalation_level)
                lines.append(
                    f"**{label(clock.name).capitalize()} deadline missed** at "
                    f"{clock.breached_at.astimezone(zone).isoformat(timespec='minutes')}; escalated to {rung} "
                    f"(level {clock.escalation_level})."
                )
            elif clock.state is ClockState.PAUSED:
                lines.append(f"{label(clock.name).capitalize()} clock paused while the customer answers.")
        returns = case.returns
        if returns is not None and returns.overdue and returns.leg is not None and returns.due_at is not None:
            lines.append(
                f"**{returns.kind.value.capitalize()} step overdue** since "
                f"{returns.due_at.astimezone(zone).isoformat(timespec='minutes')}: "
                f"{' or '.join(s.value for s in returns.leg.steps)} from {returns.leg.sender.value}; supervisor told."
            )
        if deadline is not None:
            lines.append(f"Next deadline: {deadline.astimezone(zone).isoformat(timespec='minutes')}.")
        item = self._next_item()
        if item is not None:
            lines.append(f"Next timer: {self._summary(item)}.")
        for c in outstanding(case.contributions):
            due = c.due_at.astimezone(zone).isoformat(timespec="minutes")
            lines.append(f"Waiting for a contribution from {c.department.value} ({c.status.value}, due {due}).")
        if case.reopen_count:
            lines.append(f"Reopened {case.reopen_count} time(s).")
        if case.call_back is not None:
            due = case.call_back.due_at
            when = f", due {due.astimezone(zone).isoformat(timespec='minutes')}" if due else ""
            lines.append(f"Call-back to the customer open ({case.call_back.reason}){when}.")
        workflow.set_current_details("\n\n".join(lines))
