"""Notification delivery: the outbox dispatcher and its adapters.

`record_transition` writes notifications to the `outbox` table in the same transaction
as the timeline event. The dispatcher, an asyncio task beside the worker (and in
`aftersales dev`), claims due rows, hands each to the configured adapter, and records
the outcome on the row: `delivered`, or back to `pending` with an exponential backoff,
or `failed` once the attempts are used up (operators see those in the table), or `unrouted`
when configuration names no one to send it to (no retry can help). It runs
apart from the case workflows, so a delivery failure never holds a case up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.cancellation import raise_if_cancelled
from core.metrics import counters
from core.settings import Settings
from delivery import signing
from delivery.links import LinkMaker, customer_link
from delivery.marketplace import BuyerSender
from store.outbox import OutboundNotification, OutboxStore

log = logging.getLogger(__name__)


class DeliveryFailed(Exception):
    """The adapter could not deliver; the dispatcher retries later or gives up."""


class DeliveryDeferred(Exception):
    """Not now (the customer's quiet hours): the row waits until `until`, and the wait uses up no attempt."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until


class NotRouted(Exception):
    """Configuration names no receiver for this notification (e.g. no group robot for its department
    and rung): recorded as `unrouted` at once, never retried."""


class NotificationAdapter(Protocol):
    async def deliver(self, notification: OutboundNotification) -> None:
        """Deliver or raise DeliveryFailed (any other exception counts as a failure too)."""


class LogNotifier:
    """Writes one log line per notification: topic, recipient, case number; never the body."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("aftersales.notifications")

    async def deliver(self, notification: OutboundNotification) -> None:
        self._log.info(
            "notify %s: %s for case %s (#%d)",
            notification.recipient,
            notification.topic,
            notification.case_number,
            notification.seq,
        )


class WebhookNotifier(signing.SignedWebhook):
    """POSTs the notification as signed JSON (delivery.signing); any 2xx is delivered."""

    async def deliver(self, notification: OutboundNotification) -> None:
        try:
            response = await self.post(
                notification.payload(), notification.key, {"X-Aftersales-Topic": notification.topic}
            )
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"{type(error).__name__}: {error}") from error
        if not response.is_success:
            raise DeliveryFailed(f"HTTP {response.status_code} from the webhook")


@dataclass
class RetrySchedule:
    max_attempts: int = 8
    base: timedelta = timedelta(seconds=5)
    ceiling: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int) -> timedelta:
        """Wait after the `attempts`-th failure: base, 2 x base, 4 x base, ... up to the ceiling."""
        return min(self.base * (2 ** (attempts - 1)), self.ceiling)


@dataclass
class OutboxDispatcher:
    store: OutboxStore
    adapter: NotificationAdapter
    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    poll_interval: float = 1.0
    batch: int = 20
    lease: timedelta = timedelta(minutes=2)  # a claim older than this is taken again (dispatcher died)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # pinned in tests

    async def run_once(self) -> int:
        """Claim and deliver the rows due now; returns how many were handled."""
        now = self.now()
        claimed = await self.store.claim_due(now, self.batch, self.lease)
        for notification in claimed:
            raise_if_cancelled()  # the rest stay claimed and are taken again when the lease runs out
            await self._deliver(notification)
        return len(claimed)

    async def _deliver(self, notification: OutboundNotification) -> None:
        try:
            await self.adapter.deliver(notification)
        except DeliveryDeferred as held:
            await self.store.defer(notification.id, notification.attempt, held.until, str(held)[:500])
            return
        except NotRouted as error:
            await self.store.mark_unrouted(notification.id, notification.attempt, str(error)[:500])
            log.warning(
                "notification %s for case %s not routed: %s", notification.topic, notification.case_number, error
            )
            return
        except Exception as error:  # noqa: BLE001 - every failure is recorded on the row
            reason = str(error)[:500] or type(error).__name__
            final = notification.attempt >= self.schedule.max_attempts
            counters().delivery_failed(notification.topic, final)
            if final:
                await self.store.mark_failed(notification.id, notification.attempt, reason)
                log.warning(
                    "notification %s for case %s failed for good after %d attempts: %s",
                    notification.topic, notification.case_number, notification.attempt, reason,
                )  # fmt: skip
            else:
                retry_at = self.now() + self.schedule.delay(notification.attempt)
                await self.store.mark_retry(notification.id, notification.attempt, retry_at, reason)
            return
        await self.store.mark_delivered(notification.id, notification.attempt, self.now())
        counters().delivered(notification.topic)

    async def run(self) -> None:
        """Until cancelled. A database outage is logged and waited out, never fatal."""
        log.info("outbox dispatcher started (%s)", type(self.adapter).__name__)
        while True:
            try:
                handled = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox dispatcher: claiming failed; trying again")
                handled = 0
            raise_if_cancelled()  # a cancel swallowed inside the adapter still stops the loop
            if handled < self.batch:
                await asyncio.sleep(self.poll_interval)


def notifier_from_settings(settings: Settings) -> NotificationAdapter:
    if settings.notify_adapter == "webhook":
        return WebhookNotifier.configured(settings.notify_webhook_url, settings.notify_webhook_secret, setting="NOTIFY")
    return LogNotifier()


def dispatcher_from_settings(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    link: LinkMaker = customer_link,
    buyer_senders: Mapping[str, BuyerSender] | None = None,
) -> OutboxDispatcher:
    from delivery.customer import messenger_from_settings  # it builds on this module's interface

    adapter = notifier_from_settings(settings)
    if settings.robots:
        # Staff alerts go to the departments' group robots (delivery/robots); the rest as before.
        from delivery.robots import staff_robots

        adapter = staff_robots(settings, sessions, adapter)
    # Customer messages by e-mail or SMS when CUSTOMER_CHANNELS names any (delivery/customer.py).
    # Marketplace cases on the platform first where its adapter can post (delivery/marketplace.py).
    adapter = messenger_from_settings(settings, sessions, adapter, now, link, buyer_senders)
    return OutboxDispatcher(
        OutboxStore(sessions),
        adapter,
        RetrySchedule(
            max_attempts=settings.notify_max_attempts,
            base=timedelta(seconds=settings.notify_retry_base_seconds),
            ceiling=timedelta(seconds=settings.notify_retry_max_seconds),
        ),
        poll_interval=settings.notify_poll_seconds,
        now=now,
    )
