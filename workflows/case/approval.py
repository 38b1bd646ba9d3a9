"""A solution plan: proposed, then approved or rejected by the approver its grade needs."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.case import Actor, Approval, ProposedPlan, Rejection, ResolutionType, Role, SYSTEM_ACTOR, SolutionPlan, Stage
    from domain.lifecycle import Action, EventKind
    from domain.records import Notification
    from domain.sla import ClockName
    from domain.state import CaseView

from workflows.case.base import CaseBase
from workflows.case.patches import APPROVAL_CLOCK, MULTI_DEPARTMENT, SECOND_REJECTION


APPROVER_NAMES = {Role.HEAD: "the after-sales head", Role.SUPERVISOR: "a module lead"}

# Resolution types that move money need an amount no larger than what was paid.
MONEY_RESOLUTIONS = frozenset({ResolutionType.REFUND, ResolutionType.COMPENSATION})

class ApprovalHandlers(CaseBase):
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
