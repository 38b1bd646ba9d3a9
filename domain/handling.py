"""Handling rules that are not deadlines: pinned on a case when it starts, like its SLA policy,
so a change applies to new cases and never rewrites the rules a running case was opened under."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from domain.case import Actor, Priority, ResolutionType, Role, SolutionPlan, Stage
from domain.contribution import default_contribution_targets
from domain.refusals import Refusal, Refused
from domain.returns import default_return_deadlines, working_days
from domain.sla import ClockState, DeadlineExtension, SlaClock, SlaPolicy, Target


class HandlingRules(BaseModel):
    version: str = "2026-11-follow-up"  # 2026-11-default had no fix check
    # DOMAIN.md: extra compensation is capped at a configurable share of the price paid.
    compensation_cap_percent: Decimal = Field(default=Decimal("30"), ge=0, le=100)
    # After this many reopens the case goes to the after-sales head.
    reopen_limit: int = Field(default=3, ge=1)
    # Grades I and II are approved by the after-sales head, III and IV by the module lead.
    head_approves: list[Priority] = Field(default_factory=lambda: [Priority.P1, Priority.P2])
    # The rejection that sends a plan's approval to the head.
    rejections_before_head: int = Field(default=2, ge=1)
    # Returns and repairs: how long each wait for the warehouse or logistics may take, by leg
    # (domain/returns.py); a miss is recorded and the supervisor told, and the case waits on.
    return_deadlines: dict[str, Target] = Field(default_factory=default_return_deadlines)
    # An out-of-stock exchange offer the customer leaves unanswered: a reminder after the first
    # period, and after the second the refund the offer included (DOMAIN.md: never dropped).
    exchange_choice_reminder_after: Target = Field(default_factory=lambda: working_days(3))
    exchange_choice_default_after: Target = Field(default_factory=lambda: working_days(2))
    # DOMAIN.md: a follow-up this many calendar days after a satisfied close asks whether the fix held.
    fix_check_after_days: int = Field(default=7, ge=1, le=90)
    # Multi-department cases: how long an assisting department has to contribute, by priority.
    contribution_due: dict[Priority, Target] = Field(default_factory=default_contribution_targets)

    def compensation_cap(self, paid: Decimal) -> Decimal:
        return (paid * self.compensation_cap_percent / 100).quantize(Decimal("0.01"))

    def approver(self, priority: Priority | None, rejections: int) -> Role:
        """The role whose approval a plan needs: the head outranks the module lead."""
        if priority in self.head_approves or rejections >= self.rejections_before_head:
            return Role.HEAD
        return Role.SUPERVISOR

    def reopen_limit_reached(self, reopen_count: int) -> bool:
        """Reopened this often, the case goes to the after-sales head."""
        return reopen_count >= self.reopen_limit

    def check_grade(self, actor: Actor, priority: Priority | None, rejections: int) -> None:
        """Only the approver the plan's grade needs (or the head) may approve it."""
        approver = self.approver(priority, rejections)
        if actor.role is not approver and actor.role is not Role.HEAD:
            grade = priority.value if priority else "an ungraded"
            why = "after a second rejection" if rejections >= self.rejections_before_head else f"for a {grade} case"
            raise Refused(
                Refusal.NOT_PERMITTED,
                f"{why} the plan needs approval by {APPROVER_NAMES[approver]} (role {approver.value})",
                {"required_role": approver.value},
            )

    def check_compensation_cap(self, plan: SolutionPlan, paid: Decimal) -> None:
        resolution = plan.resolution
        if resolution.type is not ResolutionType.COMPENSATION or resolution.amount is None:
            return
        cap = self.compensation_cap(paid)
        if resolution.amount > cap:
            raise Refused(
                Refusal.INVALID_PLAN,
                f"compensation of {resolution.amount} exceeds the cap of {self.compensation_cap_percent}% "
                f"of the price paid ({cap} {resolution.currency})",
                {"field": "resolution.amount", "cap": str(cap), "cap_percent": str(self.compensation_cap_percent)},
            )


APPROVER_NAMES = {Role.HEAD: "the after-sales head", Role.SUPERVISOR: "a module lead"}

# Resolution types that move money need an amount no larger than what was paid.
MONEY_RESOLUTIONS = frozenset({ResolutionType.REFUND, ResolutionType.COMPENSATION})


def check_plan_amount(plan: SolutionPlan, paid: Decimal) -> None:
    """A refund or compensation names an amount, no larger than what was paid."""
    resolution = plan.resolution
    if resolution.type not in MONEY_RESOLUTIONS:
        return
    if resolution.amount is None:
        raise Refused(
            Refusal.INVALID_PLAN, f"a {resolution.type.value} needs an amount", {"field": "resolution.amount"}
        )
    if resolution.amount > paid:
        raise Refused(
            Refusal.INVALID_PLAN,
            f"{resolution.type.value} of {resolution.amount} exceeds the {paid} paid for the order",
            {"field": "resolution.amount"},
        )


def check_return_amount(plan: SolutionPlan, paid: Decimal) -> None:
    """A return refunds at most what was paid."""
    resolution = plan.resolution
    if resolution.type is ResolutionType.RETURN and resolution.amount is not None and resolution.amount > paid:
        raise Refused(
            Refusal.INVALID_PLAN,
            f"a return refunding {resolution.amount} exceeds the {paid} paid for the order",
            {"field": "resolution.amount"},
        )


def check_extension(
    policy: SlaPolicy, clock: SlaClock | None, extension: DeadlineExtension, priority: Priority | None, stage: Stage
) -> None:
    """Only a deadline not yet missed may be extended, and only up to the policy's limit."""
    if clock is None or clock.state not in (ClockState.RUNNING, ClockState.PAUSED):
        state = clock.state.value if clock else "not running"
        raise Refused(
            Refusal.ACTION_NOT_ALLOWED,
            f"the {extension.clock.value} deadline is {state}: only a deadline not yet missed can be extended",
            {"stage": stage.value},
        )
    limit = policy.max_budget(clock.name, priority or Priority.P3, clock.target)
    if clock.target.budget + extension.extra > limit.budget:
        raise Refused(
            Refusal.INVALID_EXTENSION,
            f"the {extension.clock.value} target may grow to at most {limit.describe()}",
            {"field": "extra"},
        )
