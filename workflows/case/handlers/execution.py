"""Carrying out an approved resolution: routes, stock and exchange offers, follow-up tasks for a person."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.activities import CaseActivities
    from domain.case import (
        SYSTEM_ACTOR,
        Actor,
        ExchangeChoice,
        ExchangeOffer,
        FollowUpCompletion,
        FollowUpTask,
        LedgerReceipt,
        RefundKind,
        ResolutionType,
        Stage,
        StockCheck,
    )
    from domain.lifecycle import Action, EventKind
    from domain.records import Notification, ResolutionOrder
    from domain.refusals import Refusal
    from domain.returns import STEPPED_RESOLUTIONS
    from domain.sla import TASK_CLOCKS, ClockName, DueItem, DueKind

from workflows.case.base import (
    AWAITING_SCORE,
    CARRYING_OUT,
    EXECUTION_RETRY,
    RECORD_RETRY,
    REFUND_ROUTES,
    ROUTE_FAILURES,
    action_update,
    refuse,
)
from workflows.case.deadlines import Deadlines
from workflows.case.patches import (
    EXCHANGE_OFFER_TIMEOUT,
    EXCHANGE_STOCK,
    EXECUTION_ROUTES,
    RESULT_CLOCK,
    RETURN_STEPS,
    patched,
)


class ExecutionHandlers(Deadlines):
    def _ready_to_execute(self) -> bool:
        case = self._case
        return (
            case.stage is Stage.EXECUTING
            and case.follow_up is None
            and (case.exchange_offer is None or case.exchange_choice is not None)
            and (case.returns is None or case.returns.complete)
        )

    async def _execute(self) -> None:
        case = self._case
        assert case.plan is not None
        resolution = case.plan.plan.resolution
        # The approval event's sequence number identifies this execution for good.
        order = self._order()
        if patched(EXECUTION_ROUTES):
            if case.returns is not None:
                order = self._settlement(order)  # every step is done: what settles the return or repair
            if case.exchange_choice is not None:
                order = self._chosen(order)
            elif case.returns is None and order.type in STEPPED_RESOLUTIONS and patched(RETURN_STEPS):
                if self._on_platform(order) and not await self._authorise_return_on_platform():
                    return  # the platform refused: a follow-up task waits for a person
                await self._authorise_return(order)
                return  # logistics and the warehouse report each step
            elif order.type is ResolutionType.EXCHANGE and patched(EXCHANGE_STOCK):
                stock = await workflow.execute_activity_method(
                    CaseActivities.check_stock,
                    case.intake.product.sku,
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
            receipt = await workflow.execute_activity_method(
                CaseActivities.execute_resolution,
                order,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=EXECUTION_RETRY,
                summary=f"carry out {resolution.type.value}",
            )
        await self._executed(receipt, order.type)

    def _order(self) -> ResolutionOrder:
        case = self._case
        assert case.plan is not None
        resolution = case.plan.plan.resolution
        refund = resolution.type is ResolutionType.REFUND
        return ResolutionOrder(
            key=f"{case.number}:{case.seq}",
            number=case.number,
            at=workflow.now(),
            refund_kind=(resolution.refund_kind or RefundKind.FULL).value if refund else None,
            payment_route=case.intake.order.payment_route,
            **resolution.model_dump(include={"type", "amount", "currency"}),  # as approved
        )

    async def _execute_on_routes(self, order: ResolutionOrder) -> LedgerReceipt | None:
        """Each route in turn until one carries the resolution out; None when none did,
        after opening a follow-up task (stage `executing`, waiting for a person)."""
        if order.type is ResolutionType.REFUND and self._on_platform(order):
            return await self._refund_on_platform(order)  # a marketplace pays the buyer itself
        routes: tuple[str | None, ...] = REFUND_ROUTES if order.type is ResolutionType.REFUND else (None,)
        failed: list[dict[str, str | None]] = []
        for index, route in enumerate(routes):
            try:
                return await workflow.execute_activity_method(
                    CaseActivities.execute_resolution,
                    order.model_copy(update={"route": route}),
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
                    data={
                        "resolution": order.type.value,
                        "route": route,
                        "reason": cause.message,
                        "next_route": following,
                    },
                )
                if following is None:
                    break
        reason = f"the {order.type.value} could not be carried out on any route: " + "; ".join(
            f"{f['route'] or 'default'}: {f['reason']}" for f in failed
        )
        task = FollowUpTask(
            reason=reason,
            created_at=workflow.now(),
            resolution_key=order.key,
            resolution_type=order.type,
            amount=order.amount,
            failed_routes=failed,
        )
        await self._open_follow_up(task, f"a supervisor to carry out the {order.type.value} by hand (follow-up task)")
        return None

    async def _open_follow_up(self, task: FollowUpTask, waiting_for: str) -> None:
        """A person takes over the resolution: the supervisor gets the task, the customer hears
        of the delay."""
        self._case.follow_up = task
        resolution = task.resolution_type.value if task.resolution_type else None
        await self._record(
            EventKind.FOLLOW_UP_TASK_CREATED,
            SYSTEM_ACTOR,
            waiting_for=waiting_for,
            data={
                "reason": task.reason,
                "resolution": resolution,
                "amount": str(task.amount) if task.amount is not None else None,
                "failed_routes": task.failed_routes,
                "assigned_to": "supervisor",
            },
            notify=[
                Notification(recipient="supervisor", topic="follow_up_task", body={"resolution": resolution}),
                Notification(recipient="customer", topic="resolution_delayed"),
            ],
        )

    async def _executed(self, receipt: LedgerReceipt, kind: ResolutionType, actor: Actor = SYSTEM_ACTOR) -> None:
        case = self._case
        case.receipt = receipt
        case.returns = None  # settled: its steps stay on the timeline
        now = workflow.now()
        for clock in case.clocks.values():
            if clock.name not in TASK_CLOCKS:
                clock.meet(now)
        self._start_clock(ClockName.SURVEY, now)
        if patched(RESULT_CLOCK):
            # An agent tells the customer the result within a working day (the survey answer also meets it).
            case.result_told_at = None
            self._start_clock(ClockName.RESULT, now)
        notify = [Notification(recipient="customer", topic="result_and_survey", body={"resolution": kind.value})]
        await self._record(EventKind.RESOLUTION_EXECUTED, actor, AWAITING_SCORE, data=receipt, notify=notify)

    async def _offer_alternatives(self, stock: StockCheck) -> None:
        case = self._case
        now = workflow.now()
        paid = case.intake.order
        case.exchange_offer = ExchangeOffer(
            sku=stock.sku, similar=stock.similar, refund_amount=paid.paid_amount, currency=paid.currency, offered_at=now
        )
        if patched(EXCHANGE_OFFER_TIMEOUT):
            wait = case.rules.exchange_choice_reminder_after
            case.exchange_offer.remind_at = wait.add(case.calendar, now, wait.budget)
        paused = case.pause_clocks(now)
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

    def _check_exchange_choice(self, actor: Actor, choice: ExchangeChoice) -> None:
        case = self._case
        offer = case.exchange_offer
        if offer is None or case.exchange_choice is not None:
            raise self._nothing_open("open exchange offer")
        if choice.option == "similar_item" and choice.sku not in offer.similar:
            offered = ", ".join(offer.similar) or "none"
            raise refuse(Refusal.INVALID_CHOICE, f"{choice.sku} was not offered; offered: {offered}", {"field": "sku"})

    @action_update(Action.CHOOSE_EXCHANGE, check=_check_exchange_choice)
    async def choose_exchange(self, actor: Actor, choice: ExchangeChoice) -> None:
        """The customer's answer to an out-of-stock exchange: a similar item or a refund."""
        case = self._case
        case.exchange_choice = choice
        resumed = case.resume_clocks(workflow.now())
        await self._record(
            EventKind.EXCHANGE_CHOSEN,
            actor,
            waiting_for=CARRYING_OUT,
            data=choice,
        )
        await self._record_resumed(resumed)

    def _check_follow_up(self, actor: Actor, completion: FollowUpCompletion) -> None:
        if self._case.follow_up is None:
            raise self._nothing_open("open follow-up task")

    @action_update(Action.COMPLETE_FOLLOW_UP, check=_check_follow_up)
    async def complete_follow_up(self, actor: Actor, completion: FollowUpCompletion) -> None:
        """A person carried out by hand the resolution no route could: the ledger records
        it on the `manual` route and the case moves on to the customer's verdict."""
        case = self._case
        task = case.follow_up
        assert task is not None and case.plan is not None
        kind = task.resolution_type or case.plan.plan.resolution.type
        update: dict[str, Any] = {
            "key": task.resolution_key,
            "route": "manual",
            "external_reference": completion.reference,
        }
        if task.resolution_type is not None:
            update |= {"type": kind, "amount": task.amount}
        order = self._order().model_copy(update=update)
        receipt = await workflow.execute_activity_method(
            CaseActivities.record_manual_resolution,
            order,
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
                data=body
                | {"due_at": item.at.isoformat(), "responsible_role": leg.sender.value, "escalated_to": "supervisor"},
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
        resumed = case.resume_clocks(now)
        await self._record(
            EventKind.EXCHANGE_CHOICE_DEFAULTED,
            SYSTEM_ACTOR,
            waiting_for=CARRYING_OUT,
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
