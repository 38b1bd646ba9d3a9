"""The customer's messages: which channel, when, and what each attempt did.

`CustomerMessenger` sits in front of the configured adapter. Staff notifications pass straight
through; a customer notification is rendered from its template (delivery/messages.py) in the
case's language and sent on the first channel that works of those configured
(CUSTOMER_CHANNELS), the case's own channel first (an e-mail case is answered by e-mail, a phone
case by SMS) and only where the case has that contact. Each attempt is recorded for the case's
timeline (store/messages.py): sent, failed, deferred or opted_out.

- A channel that fails falls through to the next; when all fail, the outbox retries the row
  with its backoff. The case never waits for any of it (the dispatcher runs beside the workflows).
- A customer who opted out of a channel gets nothing on it, on any of their cases.
- Quiet hours: no SMS between 21:00 and 08:00 in the customer's timezone unless the case is P1
  (or the message acknowledges a contact the customer just made); the row is held until the
  hours end (DeliveryDeferred), never dropped.
- A retry after a send whose outcome was lost finds the sent attempt and sends nothing again.
- A case from a marketplace whose adapter can post on the after-sale is told there first
  (delivery/marketplace.py); a refusal or outage falls through to e-mail and SMS like any channel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logs import mask_text
from core.settings import Settings
from delivery.email import EmailChannel, Mail
from delivery.links import PURPOSES, LinkMaker, customer_link
from delivery.marketplace import BuyerSender, MarketplaceChannel
from delivery.messages import MissingTemplate, Rendered, language_of, render
from delivery.notify import DeliveryDeferred, DeliveryFailed, NotificationAdapter
from delivery.sms import Sms, SmsChannel
from delivery.windows import LinkWindows
from store.channels import ChannelStore
from store.messages import DEFERRED, FAILED, OPTED_OUT, SENT, MessageStore, Recipient
from store.outbox import OutboundNotification
from store.rules import RulesStore

# Answers to a contact the customer has just made: sent at any hour.
ANY_HOUR = frozenset({"acknowledgement"})
# The case's intake channel and the message channel that answers it best.
ANSWERED_BY = {"email": "email", "phone": "sms"}
SMS_SIGNATURE = {"zh-CN": "【售后服务】", "en": "[Aftersales] "}
Channel = EmailChannel | SmsChannel | MarketplaceChannel


def quiet_hours(spec: str) -> tuple[time, time] | None:
    """ "21:00-08:00" -> (21:00, 08:00); empty -> None."""
    if not spec:
        return None
    start, end = (time.fromisoformat(part) for part in spec.split("-"))
    return start, end


def quiet_until(now: datetime, zone: ZoneInfo, hours: tuple[time, time]) -> datetime | None:
    """When the quiet hours around `now` end (UTC), or None outside them."""
    start, end = hours
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not inside:
        return None
    day = local.date() + timedelta(days=1) if start > end and clock >= start else local.date()
    return datetime.combine(day, end, tzinfo=zone).astimezone(UTC)


@dataclass
class CustomerMessenger:
    store: MessageStore
    fallback: NotificationAdapter  # staff notifications, and customer ones no channel can carry
    channels: list[EmailChannel | SmsChannel]  # in order of preference
    zone: ZoneInfo  # the business calendar's: the customer's unless the case names another
    quiet: tuple[time, time] | None = (time(21), time(8))
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    link: LinkMaker = customer_link
    windows: LinkWindows = field(default_factory=LinkWindows)  # when each link expires
    marketplace: MarketplaceChannel | None = None  # the platform's own messages, for its cases

    async def deliver(self, notification: OutboundNotification) -> None:
        if notification.recipient != "customer" or not self.channels:
            await self.fallback.deliver(notification)
            return
        recipient = await self.store.recipient(notification.case_number)
        if recipient is None:
            raise DeliveryFailed(f"case {notification.case_number} is not in the record")
        if await self.store.sent_by(notification.case_number, notification.seq, notification.topic):
            return  # sent before, its outcome lost: never a second message
        target = await self._on_platform(notification)
        reachable = self._reachable(recipient)
        if not reachable and target is None:  # no contact we can use: the chat desk or the marketplace relays it
            await self.fallback.deliver(notification)
            await self._record(notification, "relay", SENT)
            return
        opted_out = await self.store.opted_out(recipient, reachable)
        for name in opted_out:
            await self._record(notification, name, OPTED_OUT)
        usable: list[Channel] = [c for c in self.channels if c.name in reachable and c.name not in opted_out]
        usable.sort(key=lambda c: reachable.index(c.name))
        if target is not None and self.marketplace is not None:
            usable.insert(0, self.marketplace)  # the buyer reads the platform
        await self._send(notification, recipient, usable, target)

    async def _on_platform(self, notification: OutboundNotification) -> tuple[str, str] | None:
        """The after-sale to post on, for a message without a link (the platform's message is
        short text; a link goes by SMS or e-mail)."""
        if self.marketplace is None or notification.topic in PURPOSES:
            return None
        return await self.marketplace.target(notification.case_number)

    def _reachable(self, recipient: Recipient) -> list[str]:
        names = [c.name for c in self.channels if recipient.contact(c.name)]
        first = ANSWERED_BY.get(recipient.channel)
        return sorted(names, key=lambda name: name != first)

    async def _send(
        self,
        notification: OutboundNotification,
        recipient: Recipient,
        channels: list[Channel],
        target: tuple[str, str] | None = None,
    ) -> None:
        if not channels:
            return  # opted out everywhere: recorded, nothing to send
        language = language_of(recipient.language)
        zone = ZoneInfo(recipient.timezone) if recipient.timezone else self.zone
        purpose = PURPOSES.get(notification.topic)
        expires = await self.windows.closes(notification, recipient, purpose) if purpose else None
        rendered, link = self._render(notification, recipient, language, zone, expires)
        held_until: datetime | None = None
        failures = []
        for channel in channels:
            contact = recipient.contact(channel.name)
            if isinstance(channel, SmsChannel):
                until = self._held(notification, recipient, zone)
                if until is not None:
                    held_until = until
                    await self._record(notification, channel.name, DEFERRED, f"quiet hours until {until.isoformat()}")
                    continue
            try:
                if isinstance(channel, MarketplaceChannel):
                    assert target is not None
                    await channel.send(target, channel.text(rendered.sms), notification.key)
                else:
                    assert contact is not None
                    await self._send_on(channel, contact, notification, rendered, link, language)
            except Exception as error:  # noqa: BLE001 - recorded; the next channel or a retry follows
                reason = f"{type(error).__name__}: {mask_text(str(error))}"[:200]
                failures.append(f"{channel.name}: {reason}")
                await self._record(notification, channel.name, FAILED, reason)
                continue
            await self._record(notification, channel.name, SENT)
            return
        if held_until is not None:
            raise DeliveryDeferred(held_until, "; ".join(failures) or "quiet hours")
        raise DeliveryFailed("; ".join(failures))

    def _held(self, notification: OutboundNotification, recipient: Recipient, zone: ZoneInfo) -> datetime | None:
        if self.quiet is None or recipient.priority == "P1" or notification.topic in ANY_HOUR:
            return None
        return quiet_until(self.now(), zone, self.quiet)

    def _render(
        self,
        notification: OutboundNotification,
        recipient: Recipient,
        language: str,
        zone: ZoneInfo,
        expires: datetime | None,
    ) -> tuple[Rendered, str | None]:
        purpose = PURPOSES.get(notification.topic)
        link = None
        if purpose is not None and expires is not None:
            link = self.link(notification.case_number, purpose, expires)
        try:
            rendered = render(
                notification.topic, language, number=notification.case_number, zone=zone, body=notification.body,
                link=link, next_deadline=recipient.next_deadline,
            )  # fmt: skip
        except MissingTemplate as error:
            raise DeliveryFailed(str(error)) from error
        return rendered, link

    async def _send_on(
        self,
        channel: EmailChannel | SmsChannel,
        contact: str,
        notification: OutboundNotification,
        rendered: Rendered,
        link: str | None,
        language: str,
    ) -> None:
        if isinstance(channel, EmailChannel):
            mail = Mail(contact, notification.case_number, notification.seq, notification.topic, rendered, self.now())
            await channel.send(mail)
        else:
            text = channel.text(rendered.sms, link, SMS_SIGNATURE[language])
            await channel.send(Sms(contact, text, notification.key))

    async def _record(
        self, notification: OutboundNotification, channel: str, result: str, detail: str | None = None
    ) -> None:
        await self.store.record_attempt(
            notification.case_number, notification.seq, notification.topic, channel, notification.attempt, result,
            self.now(), detail,
        )  # fmt: skip


def messenger_from_settings(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    fallback: NotificationAdapter,
    now: Callable[[], datetime],
    link: LinkMaker = customer_link,
    buyer_senders: Mapping[str, BuyerSender] | None = None,
) -> NotificationAdapter:
    """The configured adapter alone while CUSTOMER_CHANNELS is empty; else the messenger in front
    of it, posting on the marketplace first for the platforms in `buyer_senders`."""
    channels: list[EmailChannel | SmsChannel] = []
    for name in settings.customer_channel_order:
        if name == "email":
            channels.append(EmailChannel.configured(settings))
        else:
            channels.append(
                SmsChannel.configured(
                    settings.sms_provider_url, settings.sms_api_key, settings.sms_api_secret, settings.sms_max_segments
                )
            )
    if not channels:
        return fallback
    return CustomerMessenger(
        MessageStore(sessions), fallback, channels, ZoneInfo(settings.business_timezone),
        quiet=quiet_hours(settings.quiet_hours), now=now, link=link,
        windows=LinkWindows(RulesStore(sessions), timedelta(hours=settings.customer_reply_window_hours)),
        marketplace=MarketplaceChannel(buyer_senders, ChannelStore(sessions).after_sale_of) if buyer_senders else None,
    )  # fmt: skip
