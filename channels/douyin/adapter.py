"""The Douyin Shop (抖店) channel adapter: push verification and reading, the after-sale's
current deadline, and the merchant's decision call (afterSale/operate, one after-sale per call).

Decision types (`type` of afterSale/operate): 201 agree to refund only, 202 refuse it
(renhonghai/doudian-sdk src/Constants/AfterSaleTypeConstant.php); 101 agree to the return,
301 agree to the exchange, 311 confirm the exchange and ship (zsmhub/doudian-sdk
api/afterSale_operate/request/afterSale_operate_request.go: "type=101，301，311" carry the
return address); 102 refuse the return, 111 confirm receipt and refund, 302 refuse the
exchange follow the platform's operate table as the API description lists it (not in those
SDKs: check against the platform's console when enabling a new type). The platform
recommends one after-sale per call (a failing item fails the whole call), so every call
carries exactly one.

The operate API has no idempotency key of its own: the key the case derives from its number
and step goes in an `Idempotency-Key` header (kept by gateways and our fake platform), and the
case sends each step once (a retried activity repeats the same call with the same key); a
repeat the platform sees answers "already in that state", which the case then learns from the
push that follows.

Telling the buyer: this adapter has no `send_buyer_message` (channels/base.py BuyerMessaging),
so a Douyin case's customer messages go by SMS or e-mail. The open API's after-sale calls in
the public SDK (zsmhub/doudian-sdk api/afterSale_*) have none addressed to the buyer:
`afterSale/addOrderRemark` writes the merchant's own remark ("商家添加的备注信息", seen in the
merchant's back office), `afterSale/submitEvidence` uploads proof for the platform's review
(`comment` + up to four images), and the customer-service IM (飞鸽) has no send call there.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from channels.base import DecisionOutcome, MessageRejected, PlatformDecision, PlatformEvent
from channels.douyin.listing import MAX_PAGES, from_list_item, list_param, read_list_page
from channels.douyin.messages import read_push
from channels.douyin.signature import api_signature, push_signed
from channels.douyin.status import whose_move
from domain.marketplace import FINAL_STEPS, AfterSaleKind, DecisionKind, Platform, Whose

log = logging.getLogger(__name__)

SUCCESS = 10000  # the open API's `code` for success
_RETRYABLE = {20000, 20001}  # service unavailable / busy: the activity retries
EXTENDED_TAG = "时效延长"  # an aftersale_tags entry: the platform extended the deadline (RESEARCH.md)

_RETURNS = {AfterSaleKind.RETURN_AND_REFUND, AfterSaleKind.REPAIR}
_EXCHANGES = {AfterSaleKind.EXCHANGE, AfterSaleKind.RESEND}


def operate_type(kind: DecisionKind, after_sale: AfterSaleKind | None) -> int:
    if kind is DecisionKind.APPROVE_REFUND:
        return 201
    if kind is DecisionKind.AUTHORISE_RETURN:
        return 301 if after_sale in _EXCHANGES else 101
    if kind is DecisionKind.CONFIRM_RECEIPT:
        return 311 if after_sale in _EXCHANGES else 111
    if after_sale in _EXCHANGES:
        return 302
    return 102 if after_sale in _RETURNS else 202


class PlatformUnavailable(Exception):
    """The platform did not answer, or answered busy: retry later."""


class DouyinAdapter:
    platform = Platform.DOUYIN

    def __init__(
        self,
        app_key: str,
        app_secret: str,
        api_url: str,
        access_token: str = "",
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._key = app_key
        self._secret = app_secret
        self._api = api_url.rstrip("/")
        self._token = access_token
        self._timeout = timeout
        self._transport = transport

    # ---- receiving -----------------------------------------------------------------

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return push_signed(self._key, self._secret, body, headers.get("event-sign"))

    def parse(self, body: bytes) -> list[PlatformEvent]:
        return read_push(body, datetime.now(UTC))

    def whose_move(self, status: str | None) -> Whose:
        return whose_move(status)

    async def enrich(self, event: PlatformEvent) -> PlatformEvent:
        """The after-sale's current deadline (`status_deadline`, "当前节点逾期时间") and extension
        tag from afterSale/Detail, for a message that waits for the merchant without one: only
        ExpirationChange carries it in the push itself. Unreachable: the event as it is (the
        next ExpirationChange or the reconciliation arms the clock)."""
        if event.deadline is not None or event.step in FINAL_STEPS or event.whose not in (None, Whose.MERCHANT):
            return event
        try:
            answer = await self._call("afterSale.Detail", {"after_sale_id": event.after_sale_id}, timeout=1.0)
        except (PlatformUnavailable, httpx.HTTPError, ValueError):
            return event
        if answer.get("code") != SUCCESS:
            return event
        info = ((answer.get("data") or {}).get("process_info") or {}).get("after_sale_info") or {}
        deadline = info.get("status_deadline")
        tags = [t.get("tag_detail") for t in info.get("aftersale_tags") or [] if isinstance(t, dict)]
        if not isinstance(deadline, int) or isinstance(deadline, bool) or deadline <= 0:
            return event
        return event.model_copy(
            update={"deadline": datetime.fromtimestamp(deadline, UTC), "extended": EXTENDED_TAG in tags}
        )

    async def changed_after_sales(self, since: datetime, until: datetime) -> list[PlatformEvent]:
        """After-sales changed in [since, until] (afterSale/List by update time, `has_more` paging,
        channels/douyin/listing.py), each as the event of its current status; an item we cannot
        read is skipped and logged (its id only), a failing page raises (the run reads it again)."""
        events: list[PlatformEvent] = []
        now = datetime.now(UTC)
        for page in range(MAX_PAGES):
            answer = await self._call("afterSale.List", list_param(since, until, page))
            if answer.get("code") != SUCCESS:
                raise PlatformUnavailable(
                    f"afterSale.List answered {answer.get('code')} {answer.get('sub_code') or ''}"
                )
            items, more = read_list_page(answer)
            for item in items:
                try:
                    events.append(from_list_item(item, now))
                except MessageRejected as error:
                    log.warning("douyin after-sale list: an item skipped (%s)", error.field)
            if not more or not items:
                break
        return events

    # ---- acting ----------------------------------------------------------------------

    async def decide(self, decision: PlatformDecision) -> DecisionOutcome:
        item: dict[str, Any] = {"aftersale_id": decision.after_sale_id}
        if decision.kind is DecisionKind.REFUSE:
            item |= {"reason": decision.reason or "", "remark": decision.reason or ""}
        param = {"type": operate_type(decision.kind, decision.after_sale_kind), "items": [item]}
        answer = await self._call("afterSale.operate", param, headers={"Idempotency-Key": decision.idempotency_key})
        code = answer.get("code")
        if code in _RETRYABLE:
            raise PlatformUnavailable(f"afterSale.operate answered {code}")
        now = datetime.now(UTC)
        if code != SUCCESS:
            return DecisionOutcome(
                accepted=False,
                platform_code=str(answer.get("sub_code") or code)[:64],
                platform_message=str(answer.get("sub_msg") or answer.get("msg") or "")[:500] or None,
                sent_at=now,
            )
        items = (answer.get("data") or {}).get("items") or []
        failed = next((i for i in items if isinstance(i, dict) and i.get("status_code") not in (0, None)), None)
        if failed is not None:
            return DecisionOutcome(
                accepted=False,
                platform_code=str(failed.get("status_code"))[:64],
                platform_message=str(failed.get("status_msg") or "")[:500] or None,
                sent_at=now,
            )
        return DecisionOutcome(accepted=True, sent_at=now)

    async def _call(
        self, method: str, param: dict[str, Any], *, timeout: float | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        param_json = json.dumps(param, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        timestamp, version = str(int(time.time())), "2"
        query = {
            "app_key": self._key,
            "method": method,
            "v": version,
            "timestamp": timestamp,
            "access_token": self._token,
            "sign_method": "hmac-sha256",
            "sign": api_signature(self._key, self._secret, method, param_json, timestamp, version),
        }
        async with httpx.AsyncClient(timeout=timeout or self._timeout, transport=self._transport) as client:
            try:
                response = await client.post(
                    f"{self._api}/{method.replace('.', '/')}",
                    params=query,
                    content=param_json.encode(),
                    headers={"Content-Type": "application/json", **(headers or {})},
                )
            except httpx.HTTPError as error:
                raise PlatformUnavailable(type(error).__name__) from None
        if response.status_code >= 500 or response.status_code == 429:
            raise PlatformUnavailable(f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise PlatformUnavailable("not JSON") from None
        if not isinstance(answer, dict):
            raise PlatformUnavailable("not a JSON object")
        return answer


__all__ = ["DouyinAdapter", "MessageRejected", "PlatformUnavailable", "operate_type"]
