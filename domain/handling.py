"""Handling rules that are not deadlines: pinned on a case when it starts, like its SLA policy,
so a change applies to new cases and never rewrites the rules a running case was opened under."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from domain.case import Priority, Role
from domain.contribution import default_contribution_targets
from domain.returns import default_return_deadlines, working_days
from domain.sla import Target


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
