"""Taking a marketplace message: record it first (once per message id), then act on the
after-sale's one case through its workflow.

Both channels feed this: the Douyin push endpoint (api/routes/channels.py) and the Taobao
TMC consumer. `take_event` is the whole of it; the endpoint splits it into `record` (before
it answers the platform, within its time limit) and `act` (after the answer), and a sweep
(`act_on_unapplied`) finishes what a crash cut short.

Order: a message that cannot open the after-sale's case (an ExpirationChange or a
RefundClosed before its RefundCreated) is held; the message that opens the case applies
every held one after it, in the platform's order. The workflow itself refuses to move an
after-sale's status back for a message older than the last it applied.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.answer_form import brief_answers
from core.settings import Settings
from domain.case import Actor, Role
from domain.marketplace import IntakeResult, Platform, PlatformEvent, PlatformLink, case_intake
from domain.state import CaseBrief
from services.cases import start_case
from services.sla_rules import SlaRulebook
from services.temporal_calls import rpc_timeout, temporal_deadline
from store.cases import CaseStore
from store.channels import APPLIED, HELD, ChannelStore

log = logging.getLogger(__name__)


def platform_actor(event: PlatformEvent) -> Actor:
    return Actor(id=event.platform.value, role=Role.SYSTEM)


class ChannelIntake:
    def __init__(
        self, channels: ChannelStore, cases: CaseStore, temporal: Client, settings: Settings, rules: SlaRulebook
    ) -> None:
        self._channels = channels
        self._cases = cases
        self._temporal = temporal
        self._settings = settings
        self._rules = rules

    async def case_of(self, platform: Platform, after_sale_id: str) -> str | None:
        """The case of a platform after-sale, if it has one."""
        return await self._channels.case_of(platform.value, after_sale_id)

    async def take_event(self, event: PlatformEvent) -> IntakeResult:
        """Record the message and act on it; a redelivery acts only if the first delivery did not finish."""
        result = await self.record(event)
        if result.applied:
            return result
        acted = await self.act(event)
        return acted.model_copy(update={"duplicate": result.duplicate})

    async def record(self, event: PlatformEvent) -> IntakeResult:
        """Record the message; what is known of it already when it was seen before."""
        if await self._channels.record(event, datetime.now(UTC)):
            return IntakeResult(message_id=event.message_id)
        seen = await self._channels.message_state(event.platform.value, event.message_id)
        state, number = seen if seen is not None else (None, None)
        return IntakeResult(
            message_id=event.message_id,
            duplicate=True,
            case_number=number,
            applied=state == APPLIED,
            held=state == HELD,
        )

    async def act(self, event: PlatformEvent) -> IntakeResult:
        """Open the after-sale's case if it has none, then apply its waiting messages in order."""
        now = datetime.now(UTC)
        number = await self._channels.case_of(event.platform.value, event.after_sale_id)
        if number is None:
            waiting = await self._channels.waiting(event.platform.value, event.after_sale_id)
            opener = next((e for e in waiting if case_intake(e) is not None), None)
            if opener is None:
                await self._channels.mark(event, HELD, now)
                return IntakeResult(message_id=event.message_id, held=True)
            number = await self._open(opener, now)
        applied = False
        for waiting_event in await self._channels.waiting(event.platform.value, event.after_sale_id):
            try:
                await self._apply(number, waiting_event)
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
                # The process that bound the after-sale to this number died before starting its case
                # (the number is bound, the workflow is not there): start it now, then apply.
                waiting = await self._channels.waiting(event.platform.value, event.after_sale_id)
                opener = next((e for e in waiting if case_intake(e) is not None), None)
                if opener is None:
                    raise
                await self._open(opener, now)
                await self._apply(number, waiting_event)
            await self._channels.mark(waiting_event, APPLIED, datetime.now(UTC), number)
            applied = applied or waiting_event.message_id == event.message_id
        state = await self._channels.message_state(event.platform.value, event.message_id)
        return IntakeResult(
            message_id=event.message_id,
            case_number=number,
            applied=applied or (state is not None and state[0] == APPLIED),
        )

    async def act_on_unapplied(self, limit: int = 100) -> int:
        """Apply what was recorded but never applied (the process stopped after answering)."""
        done = 0
        for event in await self._channels.unapplied(limit):
            try:
                result = await self.act(event)
            except Exception as error:  # noqa: BLE001 - one message's failure must not hide the others'; the next sweep retries it
                log.warning(
                    "sweep: %s message %s not applied (%s)",
                    event.platform.value,
                    event.message_id,
                    type(error).__name__,
                )
                continue
            done += result.applied
        return done

    async def _open(self, event: PlatformEvent, now: datetime) -> str:
        intake = case_intake(event)
        assert intake is not None
        day = now.astimezone(ZoneInfo(self._settings.business_timezone)).strftime("%Y%m%d")
        candidate = await self._cases.next_case_number(day)
        number = await self._channels.link(event, candidate, now)
        link = PlatformLink(platform=event.platform, after_sale_id=event.after_sale_id, kind=event.kind)
        # fresh=False: a number bound by an earlier, interrupted delivery may have its case already.
        await start_case(
            self._temporal, self._settings, self._rules, platform_actor(event), intake, number, now,
            fresh=number == candidate, platform=link, brief=True,
        )  # fmt: skip
        return number

    async def _apply(self, number: str, event: PlatformEvent) -> None:
        handle = self._temporal.get_workflow_handle(number)
        async with temporal_deadline(self._settings):
            with brief_answers():  # the platform's event is answered by its own delivery, not by the view
                await handle.execute_update(
                    "platform_event", event, result_type=CaseBrief, rpc_timeout=rpc_timeout(self._settings)
                )
