"""The customer's messages on the marketplace itself, for a case that came from one.

The buyer of a marketplace after-sale reads the platform, so a case linked to a platform
after-sale (store/channels.py `platform_links`) is told there first when that platform's adapter
can post on the after-sale (channels/base.py BuyerMessaging: Taobao's refund messages; Douyin
has no such call, so its cases go by SMS or e-mail). The delivery side imports no adapter: the
worker hands in one sender per platform (worker.py `buyer_messages`), as it does the links.

What is posted is the short (SMS) rendering of the message, without signature or link: the
platform shows the shop, and nothing is in it beyond the case number (no name, no contact).
Messages that carry a customer-page link (delivery/links.py PURPOSES) go by SMS or e-mail,
where the link can be sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from delivery.sms import fit

# (after-sale id, text, idempotency key) -> None; the adapter's refusal or outage error otherwise.
BuyerSender = Callable[[str, str, str], Awaitable[None]]
# The case's (platform, after-sale id), or None for a case that did not come from a marketplace.
AfterSaleOf = Callable[[str], Awaitable["tuple[str, str] | None"]]


@dataclass(frozen=True)
class MarketplaceChannel:
    senders: Mapping[str, BuyerSender]  # by platform name ("taobao"): only the adapters that can post
    after_sale_of: AfterSaleOf
    max_segments: int = 2  # as short as an SMS: a platform message is read on a phone too
    name: str = "marketplace"

    async def target(self, case_number: str) -> tuple[str, str] | None:
        """Where the case's buyer is told on the platform, or None where they cannot be."""
        if not self.senders:
            return None
        found = await self.after_sale_of(case_number)
        if found is None or found[0] not in self.senders:
            return None
        return found

    def text(self, short: str) -> str:
        return fit(short, None, self.max_segments)

    async def send(self, target: tuple[str, str], text: str, idempotency_key: str) -> None:
        platform, after_sale_id = target
        await self.senders[platform](after_sale_id, text, idempotency_key)
