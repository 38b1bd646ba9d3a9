"""When a customer link stops working: with the window the message opens, not a flat period.

- The fix check names its own deadline in the notification (`answer_due_at`).
- The survey runs on the case's survey clock, started when the notification's event happened
  (the outbox row's `created_at`); its budget comes from the SLA policy and calendar the case is
  pinned to, read from the record, so the link dies when the survey window closes.
- An information request has no clock of ours (the case's clocks pause while the customer is
  asked): its link lasts the configured customer-reply window (CUSTOMER_REPLY_WINDOW_HOURS)
  from the request.

Every instant derives from the event, never from the send, so a retry carries the same link.
Where the record cannot say (a policy version no longer stored, a business-time budget without
its calendar), the link lasts FALLBACK from the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.calendar_sources import china_calendar
from domain.calendar import BusinessCalendar
from domain.case import Channel, CustomerTier, Priority
from domain.sla import ClockName, SlaPolicy
from store.messages import Recipient
from store.outbox import OutboundNotification
from store.rules import RulesStore

FALLBACK = timedelta(days=14)
DEFAULT_REPLY_WINDOW = timedelta(days=7)


@dataclass
class LinkWindows:
    rules: RulesStore | None = None  # None: only the built-in policy and calendar are known
    reply_window: timedelta = DEFAULT_REPLY_WINDOW

    async def closes(self, notification: OutboundNotification, recipient: Recipient, purpose: str) -> datetime:
        asked_at = notification.created_at
        named = notification.body.get("answer_due_at")
        if isinstance(named, str):
            return datetime.fromisoformat(named)
        if purpose == "info_request":
            return asked_at + self.reply_window
        if purpose == "survey":
            due = await self._survey_due(recipient, asked_at)
            if due is not None:
                return due
        return asked_at + FALLBACK

    async def _survey_due(self, recipient: Recipient, started: datetime) -> datetime | None:
        policy = await self._policy(recipient.policy_version)
        if policy is None:
            return None
        target = policy.target(
            ClockName.SURVEY,
            Priority(recipient.priority) if recipient.priority else Priority.P3,
            CustomerTier(recipient.tier) if recipient.tier else CustomerTier.NORMAL,
            Channel(recipient.channel),
        )
        if target is None:
            return None
        if not target.business:
            return started + target.budget
        calendar = await self._calendar(recipient.calendar_version, started.year)
        return target.add(calendar, started, target.budget) if calendar is not None else None

    async def _policy(self, version: str | None) -> SlaPolicy | None:
        default = SlaPolicy()
        if version in (None, default.version):
            return default
        return await self.rules.policy(version) if self.rules is not None else None

    async def _calendar(self, version: str | None, year: int) -> BusinessCalendar | None:
        stored = await self.rules.calendar(version) if self.rules is not None and version else None
        if stored is not None:
            return stored
        default = china_calendar([year, year + 1])
        return default if version in (None, default.version) else None
