"""A solution plan: proposed, then approved or rejected by the approver its grade needs."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import SYSTEM_ACTOR, Actor, Approval, ProposedPlan, Rejection, Role, SolutionPlan, Stage
    from domain.handling import APPROVER_NAMES, check_plan_amount, check_return_amount
    from domain.lifecycle import Action, EventKind
    from domain.payloads import PlanApprover
    from domain.records import Notification
    from domain.refusals import Refusal
    from domain.sla import ClockName

from workflows.case.base import CARRYING_OUT, Next, action_update, applying_rules, refuse
from workflows.case.deadlines import Deadlines
from workflows.case.patches import APPROVAL_CLOCK, MULTI_DEPARTMENT, SECOND_REJECTION, patched


class ApprovalHandlers(Deadlines):
    # The approval rules (the amounts and grades themselves live in domain/handling.py and the
    # case's HandlingRules): what a proposed plan may ask for and who may decide on it.

    def _check_plan(self, plan: SolutionPlan) -> None:
        with applying_rules():
            check_plan_amount(plan, self._case.intake.order.paid_amount)

    def _check_new_plan(self, actor: Actor, plan: SolutionPlan) -> None:
        """Validators only: contributions, the amount, the cap and the return amount (the last
        two are rules that cases recorded before them never checked)."""
        case = self._case
        self._check_contributions_in()
        self._check_plan(plan)
        with applying_rules():
            case.rules.check_compensation_cap(plan, case.intake.order.paid_amount)
            check_return_amount(plan, case.intake.order.paid_amount)

    def _check_decider(self, actor: Actor, decision: Approval | Rejection) -> None:
        plan = self._case.plan
        if plan is not None and plan.author.id == actor.id:
            raise refuse(Refusal.NOT_PERMITTED, "the author of a plan may not approve or reject it")

    def _check_grade(self, actor: Actor, decision: Approval | Rejection) -> None:
        """Validators only: a rule that cases recorded before it never checked."""
        case = self._case
        with applying_rules():
            case.rules.check_grade(actor, case.priority, case.rejections)

    def _approver(self) -> Role:
        case = self._case
        return case.rules.approver(case.priority, case.rejections)

    @action_update(Action.PROPOSE_PLAN, validate_only=_check_new_plan)
    async def propose_plan(self, actor: Actor, plan: SolutionPlan) -> None:
        self._check_plan(plan)
        if self._case.contributions and patched(MULTI_DEPARTMENT):
            self._check_contributions_in()  # one may have been asked for since validation
        case = self._case
        now = workflow.now()
        case.plan = ProposedPlan(plan=plan, author=actor, proposed_at=now)
        self._meet(ClockName.PLAN, now)
        if patched(APPROVAL_CLOCK):
            self._start_clock(ClockName.APPROVAL, now)
        approver = self._approver()
        await self._record(
            EventKind.PLAN_PROPOSED,
            actor,
            stage=Stage.PLAN_PROPOSED,
            waiting_for=f"approval by {APPROVER_NAMES[approver]}",
            data={**plan.model_dump(mode="json"), **PlanApprover(approver=approver).model_dump(mode="json")},
            notify=[Notification(recipient=approver.value, topic="approval_requested")],
        )

    @action_update(Action.APPROVE, check=_check_decider, validate_only=_check_grade)
    async def approve(self, actor: Actor, approval: Approval) -> None:
        self._meet(ClockName.APPROVAL, workflow.now())
        notify = [Notification(recipient=f"employee:{self._case.assignee}", topic="plan_approved")]
        await self._record(
            EventKind.PLAN_APPROVED, actor, Next(Stage.EXECUTING, CARRYING_OUT), data=approval, notify=notify
        )

    @action_update(Action.REJECT, check=_check_decider, validate_only=_check_grade)
    async def reject(self, actor: Actor, rejection: Rejection) -> None:
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
            data=rejection,
            notify=[
                Notification(
                    recipient=f"employee:{case.assignee}", topic="plan_rejected", body={"reason": rejection.reason}
                )
            ],
        )
        if self._approver() is not required_before and patched(SECOND_REJECTION):
            await self._record(
                EventKind.APPROVAL_ESCALATED,
                SYSTEM_ACTOR,
                data={"to": Role.HEAD.value, "rejections": case.rejections, "reason": "rejected again"},
                notify=[Notification(recipient=Role.HEAD.value, topic="approval_escalated")],
            )
