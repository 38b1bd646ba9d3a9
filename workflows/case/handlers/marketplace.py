"""Marketplace after-sales (channels/): platform messages applied in the platform's order, the
platform's deadline as the `platform` clock, and decisions sent back to the platform.

A message is applied once (by message id); one older than the last applied is recorded but
moves nothing. The clock runs from the message that set the deadline to the deadline itself
(calendar time: the platform counts around the clock), so its warnings at 75 % and 90 % and
the escalation after a breach are those of every clock; a new deadline (ExpirationChange)
re-arms it, and a status that no longer waits for the merchant meets it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.activities import CaseActivities, MarketplaceActivities
    from domain.case import SYSTEM_ACTOR, Actor, FollowUpTask, LedgerReceipt, ResolutionType
    from domain.lifecycle import Action, EventKind
    from domain.marketplace import (
        APPLIED_MEMORY,
        CONFIRMED_BY,
        DECISION_ZH,
        FINAL_STEPS,
        STEP_ZH,
        DecisionKind,
        DecisionOutcome,
        PlatformDecision,
        PlatformDecisionRequest,
        PlatformEvent,
        PlatformLink,
        PlatformStep,
        PlatformTask,
        SentDecision,
        Whose,
    )
    from domain.presenting import current_details
    from domain.records import Notification, ResolutionOrder
    from domain.refusals import Refusal
    from domain.sla import ClockName, SlaClock, Target
    from domain.state import CaseView

from workflows.case.base import RECORD_RETRY, action_update, answer, refuse
from workflows.case.deadlines import Deadlines
from workflows.case.patches import PLATFORM_CLOCK, PLATFORM_DECISIONS, patched

# A platform outage delays the decision, never loses it; a refusal is an answer, not an error.
PLATFORM_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=2))

# A deadline already past when it arrives still gets a clock: it is breached at once.
_LEAST = timedelta(seconds=1)


class MarketplaceHandlers(Deadlines):
    def _link(self) -> PlatformLink:
        link = self._case.platform
        if link is None:
            raise refuse(Refusal.ACTION_NOT_ALLOWED, "the case is not a marketplace after-sale", non_retryable=True)
        return link

    # ---- the platform's messages -------------------------------------------------

    @workflow.update
    async def platform_event(self, event: PlatformEvent) -> CaseView:
        """A platform message for this case's after-sale (services/channel_intake.py)."""
        await workflow.wait_condition(lambda: self._case.seq > 0)
        async with self._lock:
            await self._apply_platform_event(event)
        return answer(self._case)  # read back as a CaseView

    @platform_event.validator
    def _validate_platform_event(self, event: PlatformEvent) -> None:
        link = self._link()
        if (event.platform, event.after_sale_id) != (link.platform, link.after_sale_id):
            raise refuse(Refusal.ACTION_NOT_ALLOWED, "the message is for another after-sale", non_retryable=True)

    async def _apply_platform_event(self, event: PlatformEvent) -> None:
        link = self._link()
        if event.message_id in link.applied:
            return  # a redelivery: acted on once
        link.applied = [*link.applied, event.message_id][-APPLIED_MEMORY:]
        data: dict[str, Any] = {
            "summary": STEP_ZH[event.step],
            "topic": event.topic,
            "step": event.step.value,
            "status": event.status,
            "message_id": event.message_id,
            "occurred_at": event.occurred_at.isoformat(),
        }
        if link.occurred_at is not None and event.occurred_at < link.occurred_at:
            # Older than what the case already applied (out of order): on the record, moving nothing.
            await self._record(EventKind.PLATFORM_MESSAGE, SYSTEM_ACTOR, data=data | {"late": True})
            return
        link.occurred_at = event.occurred_at
        link.step = event.step
        link.status = event.status or link.status
        link.kind = event.kind or link.kind
        await self._record(EventKind.PLATFORM_MESSAGE, SYSTEM_ACTOR, data=data)
        await self._confirm_decisions(event)
        await self._platform_clock(event)
        # The deadline may have moved after the last write published the details: operators
        # read the new one at once (details are no command, unlike a search attribute upsert).
        workflow.set_current_details(current_details(self._case, self._next_item()))

    async def _confirm_decisions(self, event: PlatformEvent) -> None:
        link = self._link()
        now = workflow.now()
        for sent in link.decisions:
            if sent.confirmed_at is None and event.step in CONFIRMED_BY[sent.kind]:
                sent.confirmed_at = now
                await self._record(
                    EventKind.PLATFORM_DECISION_CONFIRMED,
                    SYSTEM_ACTOR,
                    data={
                        "summary": f"平台已确认 confirmed by the platform: {DECISION_ZH[sent.kind]}",
                        "decision": sent.kind.value,
                        "key": sent.key,
                        "message_id": event.message_id,
                    },
                )

    async def _platform_clock(self, event: PlatformEvent) -> None:
        """Arm, re-arm or meet the `platform` clock from the message's deadline and status."""
        case = self._case
        link = self._link()
        now = workflow.now()
        clock = case.clocks.get(ClockName.PLATFORM)
        merchant = event.whose in (None, Whose.MERCHANT) and event.step not in FINAL_STEPS
        if not merchant:
            if clock is not None and clock.open:
                clock.meet(now)
            link.deadline = None
            return
        if event.deadline is None or (clock is not None and clock.open and clock.due_at == event.deadline):
            return
        patched(PLATFORM_CLOCK)  # marks the histories that carry a platform clock
        before = link.deadline if clock is not None and clock.open else None
        extended = event.extended or (
            event.step is PlatformStep.DEADLINE_CHANGED and before is not None and event.deadline > before
        )
        link.deadline = event.deadline
        link.extended = extended
        budget = max(event.deadline - now, _LEAST)
        clock = SlaClock.start(ClockName.PLATFORM, Target(budget=budget, business=False), now, case.calendar)
        clock.extended_by_platform = extended
        case.clocks[ClockName.PLATFORM] = clock
        if before is not None or event.step is PlatformStep.DEADLINE_CHANGED:
            summary = "平台延长了时限 extended by the platform" if extended else "平台变更了时限 moved by the platform"
            await self._record(
                EventKind.PLATFORM_DEADLINE_CHANGED,
                SYSTEM_ACTOR,
                data={
                    "summary": summary,
                    "clock": ClockName.PLATFORM.value,
                    "due_before": before.isoformat() if before else None,
                    "due_at": event.deadline.isoformat(),
                    "extended_by_platform": extended,
                },
            )

    # ---- our decisions, sent to the platform -----------------------------------

    def _check_platform_decision(self, actor: Actor, request: PlatformDecisionRequest) -> None:
        link = self._link()
        if link.step in FINAL_STEPS:
            raise refuse(
                Refusal.ACTION_NOT_ALLOWED,
                f"the after-sale is finished on the platform ({link.step.value if link.step else ''})",
                {"stage": self._case.stage.value},
            )

    @action_update(Action.PLATFORM_DECIDE, check=_check_platform_decision)
    async def platform_decide(self, actor: Actor, request: PlatformDecisionRequest) -> None:
        link = self._link()
        outcome, key = await self._send_decision(actor, request.kind, request.reason)
        if outcome.accepted:
            link.task = None
            return
        link.task = PlatformTask(
            decision=request.kind,
            key=key,
            platform_code=outcome.platform_code,
            platform_message=outcome.platform_message,
            created_at=workflow.now(),
        )
        await self._record(
            EventKind.PLATFORM_DECISION_REFUSED,
            actor,
            waiting_for=f"a supervisor to take up the {link.platform.value} refusal (follow-up task)",
            data={
                "summary": f"平台拒绝 refused by the platform: {DECISION_ZH[request.kind]}",
                "decision": request.kind.value,
                "key": key,
                "reason": request.reason,
                "platform_code": outcome.platform_code,
                "platform_message": outcome.platform_message,
                "assigned_to": "supervisor",
            },
            notify=[
                Notification(
                    recipient="supervisor",
                    topic="follow_up_task",
                    body={"decision": request.kind.value, "platform": link.platform.value},
                )
            ],
        )

    async def _send_decision(self, actor: Actor, kind: DecisionKind, reason: str | None) -> tuple[DecisionOutcome, str]:
        """Make the platform's decision call from an activity, keyed by the case and its step;
        an accepted call goes on the timeline as sent (the platform's later message confirms it)."""
        case = self._case
        link = self._link()
        key = f"{case.number}:{kind.value}:{case.seq + 1}"  # the step: a retried activity repeats the key
        decision = PlatformDecision(
            platform=link.platform,
            after_sale_id=link.after_sale_id,
            kind=kind,
            after_sale_kind=link.kind,
            reason=reason,
            amount=case.intake.order.paid_amount,
            idempotency_key=key,
            case_number=case.number,
        )
        outcome = await workflow.execute_activity_method(
            MarketplaceActivities.platform_decide,
            decision,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=PLATFORM_RETRY,
            summary=f"{kind.value} on {link.platform.value}",
        )
        if outcome.accepted:
            link.decisions.append(SentDecision(kind=kind, key=key, sent_at=workflow.now()))
            await self._record(
                EventKind.PLATFORM_DECISION_SENT,
                actor,
                data={
                    "summary": f"已发送至平台 sent to the platform: {DECISION_ZH[kind]}",
                    "decision": kind.value,
                    "key": key,
                    "reason": reason,
                },
            )
        return outcome, key

    # ---- an approved plan carried out on the platform -------------------------------

    def _on_platform(self, order: ResolutionOrder) -> bool:
        """A marketplace case's refund is the platform's to pay (its agreement or the receipt
        confirmation of a return), and so is its return's authorisation."""
        link = self._case.platform
        return (
            link is not None
            and link.step not in FINAL_STEPS
            and order.type in (ResolutionType.REFUND, ResolutionType.RETURN)
            and patched(PLATFORM_DECISIONS)
        )

    async def _refund_on_platform(self, order: ResolutionOrder) -> LedgerReceipt | None:
        """The approved refund sent to the platform; the ledger records it on the platform's
        route. Refused: a follow-up task with the platform's words, nothing paid."""
        link = self._link()
        kind = DecisionKind.CONFIRM_RECEIPT if link.step is PlatformStep.BUYER_RETURNED else DecisionKind.APPROVE_REFUND
        outcome, _ = await self._send_decision(SYSTEM_ACTOR, kind, None)
        if not outcome.accepted:
            task = FollowUpTask(
                reason=f"{link.platform.value} refused {kind.value}: {outcome.platform_message or outcome.platform_code}",
                created_at=workflow.now(),
                resolution_key=order.key,
                resolution_type=order.type,
                amount=order.amount,
                failed_routes=[{"route": link.platform.value, "reason": outcome.platform_message}],
            )
            await self._open_follow_up(
                task, f"a supervisor to take up the {link.platform.value} refusal (follow-up task)"
            )
            return None
        return await workflow.execute_activity_method(
            CaseActivities.record_manual_resolution,
            order.model_copy(update={"route": link.platform.value, "external_reference": link.key}),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORD_RETRY,
            summary=f"record the {order.type.value} paid through {link.platform.value}",
        )

    async def _authorise_return_on_platform(self) -> bool:
        """The approved return authorised on the platform first; False (a follow-up task) when refused."""
        link = self._link()
        outcome, key = await self._send_decision(SYSTEM_ACTOR, DecisionKind.AUTHORISE_RETURN, None)
        if outcome.accepted:
            return True
        assert self._case.plan is not None
        resolution = self._case.plan.plan.resolution
        task = FollowUpTask(
            reason=f"{link.platform.value} refused authorise_return: {outcome.platform_message or outcome.platform_code}",
            created_at=workflow.now(),
            resolution_key=key,
            resolution_type=resolution.type,
            amount=resolution.amount,
            failed_routes=[{"route": link.platform.value, "reason": outcome.platform_message}],
        )
        await self._open_follow_up(task, f"a supervisor to take up the {link.platform.value} refusal (follow-up task)")
        return False
