"""The channel adapter interface: every marketplace implements it (channels/douyin/, channels/taobao/).

Receiving: `verify` the platform's signature over the raw body (a failure is refused with 401
and nothing is recorded), then `parse` the body into normalised `PlatformEvent`s, which the
intake service (services/channel_intake.py) records by message id and applies to the
after-sale's one case. Acting: `decide` makes the platform's decision call for one after-sale,
idempotently under the key the case derives from its number and step (a retried activity
repeats the same call, and the platform sees it once).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from domain.marketplace import (
    AfterSaleKind,
    DecisionKind,
    DecisionOutcome,
    IntakeResult,
    Platform,
    PlatformDecision,
    PlatformEvent,
    PlatformStep,
    Whose,
)

__all__ = [
    "AfterSaleKind",
    "BuyerMessaging",
    "ChannelAdapter",
    "DecisionKind",
    "DecisionOutcome",
    "DecisionRefused",
    "IntakeResult",
    "MessageRejected",
    "Platform",
    "PlatformDecision",
    "PlatformEvent",
    "PlatformStep",
    "Whose",
]


class MessageRejected(ValueError):
    """A verified body that is not a message we can read: the field named is what was wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class DecisionRefused(Exception):
    """The platform refused a decision for good (its business rule, not an outage): a person's task."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@runtime_checkable
class ChannelAdapter(Protocol):
    platform: Platform

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """True when the platform signed exactly this body with our credentials."""
        ...

    def parse(self, body: bytes) -> list[PlatformEvent]:
        """The body's messages, normalised; MessageRejected when it cannot be read."""
        ...

    def whose_move(self, status: str | None) -> Whose:
        """Whose move the platform's status waits for (the status mapping, as data)."""
        ...

    async def enrich(self, event: PlatformEvent) -> PlatformEvent:
        """The event with what the platform's API adds (its current deadline) when the message
        lacks it; quick (the platform waits for our answer), and the event as it is on failure."""
        ...

    async def decide(self, decision: PlatformDecision) -> DecisionOutcome:
        """Make the decision call; an outage raises (the activity retries), a refusal returns
        `accepted=False` with the platform's message."""
        ...


@runtime_checkable
class BuyerMessaging(Protocol):
    """The optional capability of telling the buyer something on the after-sale itself, where the
    buyer reads it (Taobao's refund messages). An adapter whose platform has no such call lacks
    the method, and the customer's messages go by SMS or e-mail (delivery/customer.py).

    The platforms key nothing by our idempotency key on these calls: the messenger sends each
    message once (it finds the attempt it recorded as sent), an adapter guards a send whose
    answer was lost as its platform allows (Taobao reads the refund's messages first), and the
    key is passed on for the gateways that keep it."""

    async def send_buyer_message(self, after_sale_id: str, text: str, idempotency_key: str) -> None:
        """Post `text` on the after-sale; the adapter's refusal or outage error otherwise."""
        ...
