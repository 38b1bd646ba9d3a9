"""Returns and repairs: logistics and warehouse steps before the settlement."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import SYSTEM_ACTOR, Actor, AfterReturn, FollowUpTask, RefundKind, ResolutionType
    from domain.lifecycle import Action, EventKind
    from domain.records import Notification, ResolutionOrder
    from domain.refusals import Refusal
    from domain.returns import OVERRIDE_ROLES, ReturnProgress, ReturnStepSignal, sender_of

from workflows.case.base import action_update, refuse
from workflows.case.deadlines import Deadlines


class ReturnHandlers(Deadlines):
    def _check_return_step(self, actor: Actor, signal: ReturnStepSignal) -> None:
        case = self._case
        progress = case.returns
        if progress is None:
            raise refuse(
                Refusal.ACTION_NOT_ALLOWED,
                "the case has no return or repair under way",
                {"stage": case.stage.value},
            )
        sender = sender_of(signal.step)
        if actor.role is not sender and actor.role not in OVERRIDE_ROLES:
            raise refuse(
                Refusal.NOT_PERMITTED,
                f"the {signal.step.value} step is reported by {sender.value}, not {actor.role.value}",
                {"required_role": sender.value},
            )
        why = progress.refusal(signal.step)
        if why is not None:
            leg = progress.leg
            raise refuse(
                Refusal.ACTION_NOT_ALLOWED,
                why,
                {"stage": case.stage.value, "expected": [s.value for s in leg.steps] if leg else []},
            )

    @action_update(Action.RETURN_STEP, check=_check_return_step)
    async def record_return_step(self, actor: Actor, signal: ReturnStepSignal) -> None:
        """Logistics or the warehouse reports the next step of the return or repair under way."""
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
                body={
                    "step": signal.step.value,
                    "tracking_number": signal.tracking_number,
                    "passed": signal.passed,
                },
            )
        ]
        waiting_for = None
        if following is not None:
            expected = {
                "steps": [s.value for s in following.steps],
                "due_at": progress.due_at.isoformat() if progress.due_at else None,
            }
            data["next"] = expected
            waiting_for = following.waiting_for
            notify.append(Notification(recipient=following.sender.value, topic="return_step_expected", body=expected))
        elif progress.complete:
            waiting_for = f"the {self._settled_by(progress)} to be carried out"
        await self._record(EventKind(signal.step.value), actor, waiting_for=waiting_for, data=data, notify=notify)
        if progress.failed_inspection:
            await self._follow_up_failed_inspection(signal)

    async def _authorise_return(self, order: ResolutionOrder) -> None:
        """The approved return or repair starts: the customer gets the instructions and
        logistics is asked for a label or a pickup; each step then waits by its deadline."""
        case = self._case
        assert case.plan is not None
        now = workflow.now()
        after = (
            (case.plan.plan.resolution.after_return or AfterReturn.REFUND)
            if order.type is ResolutionType.RETURN
            else None
        )
        progress = ReturnProgress(kind=order.type, key=order.key, after_return=after, authorised_at=now)
        progress.start_leg(now, case.rules.return_deadlines, case.calendar)
        case.returns = progress
        leg = progress.leg
        assert leg is not None
        expected = {
            "steps": [s.value for s in leg.steps],
            "due_at": progress.due_at.isoformat() if progress.due_at else None,
        }
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
                Notification(
                    recipient=leg.sender.value,
                    topic="return_step_expected",
                    body={"resolution": order.type.value} | expected,
                ),
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
        task = FollowUpTask(
            reason=reason,
            created_at=workflow.now(),
            resolution_key=progress.key,
            resolution_type=progress.kind,
            amount=None,
        )
        waiting_for = (
            f"a supervisor to decide on the {progress.kind.value} after the failed quality check (follow-up task)"
        )
        await self._open_follow_up(task, waiting_for)
