"""Carrying out approved resolutions: the execution adapters ("payment gateway").

The `execute_resolution` activity asks one adapter to carry out a resolution on one
route and then writes the ledger. Two implementations:

- `LedgerExecutor` (default): nothing leaves the building; the local ledger is the record;
- `WebhookExecutor`: a signed JSON POST (delivery.signing) to the payment / fulfilment
  service, with `Idempotency-Key` = the route's key (`<case>:<approval seq>:<route>`)
  and `X-Aftersales-Resolution-Key` = the resolution's key shared by its routes, so the
  receiver can dedupe retries and refuse to pay one resolution twice.

An adapter raises `RouteFailed` for a definitive refusal (the next route is tried at
once) and `RouteUnavailable` for a transient failure (retried; after the configured
attempts the route counts as failed).
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from delivery import signing
from domain.records import ResolutionOrder

RESOLUTION_KEY_HEADER = "X-Aftersales-Resolution-Key"


class RouteFailed(Exception):
    """The route refused the resolution for good (declined, closed account, invalid)."""


class RouteUnavailable(Exception):
    """The route could not be reached or answered with a transient error."""


class ResolutionExecutor(Protocol):
    async def execute(self, order: ResolutionOrder) -> str | None:
        """Carry out `order` on `order.route`, idempotently per `order.route_key`;
        returns the adapter's reference (None when there is none)."""


class LedgerExecutor:
    """The local ledger is the whole execution: always succeeds, no reference."""

    async def execute(self, order: ResolutionOrder) -> str | None:
        return None


class WebhookExecutor(signing.SignedWebhook):
    timeout = 20.0  # a payment service may take its time

    @staticmethod
    def payload(order: ResolutionOrder) -> dict[str, Any]:
        return {
            "idempotency_key": order.route_key,
            "resolution_key": order.key,
            "case_number": order.number,
            "type": order.type.value,
            "refund_kind": order.refund_kind,
            "amount": str(order.amount) if order.amount is not None else None,
            "currency": order.currency,
            "route": order.route,
            "payment_route": order.payment_route,
            "sku": order.sku,
        }

    async def execute(self, order: ResolutionOrder) -> str | None:
        try:
            response = await self.post(self.payload(order), order.route_key, {RESOLUTION_KEY_HEADER: order.key})
        except httpx.HTTPError as error:
            raise RouteUnavailable(f"{type(error).__name__}: {error}") from error
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise RouteUnavailable(f"HTTP {response.status_code} on route {order.route}")
        if not response.is_success:
            raise RouteFailed(f"HTTP {response.status_code} on route {order.route}: {response.text[:200]}")
        try:
            reference = response.json().get("reference")
        except ValueError:
            reference = None
        return str(reference)[:128] if reference else None


def executor_from_settings(settings: Any) -> ResolutionExecutor:
    if settings.execution_adapter == "webhook":
        return WebhookExecutor.configured(
            settings.execution_webhook_url, settings.execution_webhook_secret, setting="EXECUTION"
        )
    return LedgerExecutor()
