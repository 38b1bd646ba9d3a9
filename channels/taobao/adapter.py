"""The Taobao/Tmall channel adapter: TMC refund messages in, the merchant's refund decisions out.

Receiving is the TMC consumer's (channels/taobao/consumer.py): messages arrive over the
WebSocket connection it opened and signed, so there is nothing to verify per message, and
`verify` refuses every HTTP body (Taobao pushes nothing over HTTP: a body claiming to be a
Taobao message is forged). Acting uses the TOP API (channels/taobao/top.py):

- approve / confirm receipt: `taobao.rp.refunds.agree`, `refund_infos` as
  `refund_id|amount in fen|version|phase`, at most 20 refunds and ¥6,000 per call on Taobao,
  30 and ¥10,000 on Tmall; over a certain amount the call fails and the platform texts a code
  to the merchant's phone, to be sent as `code` in a second call (GitHub `bububa/opentaobao`,
  model/refund/TaobaoRpRefundsAgreeAPIRequest.go and ...APIResponse.go: `msg_code`
  OP_SUCC / SOME_OP_SUCC / OP_FAILURE_UE, `results[].succ/message`);
- authorise a return: `taobao.rp.returngoods.agree` (seller_address_id required);
- refuse: `taobao.refund.refuse` (refuse_message 2-200 characters; Tmall also requires a proof
  image, which only a person can choose).

Telling the buyer (the optional BuyerMessaging capability, channels/base.py):
`taobao.refund.message.add` "创建退款留言/凭证" posts a message on the refund, where the buyer
reads the negotiation: `refund_id`, `content` (at most 400 bytes), an optional `image` proof
(GitHub `bububa/opentaobao`, model/refund/TaobaoRefundMessageAddAPIRequest.go; the answer's
`refund_message` carries its id and time). A refusal (TopError, e.g. a finished refund) or an
outage (TopUnavailable) is raised: the customer's message then goes by SMS or e-mail. TOP
keys no call by an idempotency key, so the refund's messages are read first
(`taobao.refund.messages.get`, `refund_phase` required on Tmall; opentaobao
model/refund/RefundMessage.go: `content`, `owner_role` 2 for the seller): a text the seller
already posted there is not posted again.

Each limit a call cannot pass becomes a refusal (`accepted=False` with our code and the
platform's words): the case opens a task for a person, never a silent failure. The calls are
idempotent by reading the refund first: a decision the refund already shows is not made again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from channels.taobao.messages import from_record, parse_message, with_record
from channels.taobao.status import RefundStatus, whose_move
from channels.taobao.top import TopClient, TopError, TopUnavailable, top_time
from domain.marketplace import DecisionKind, DecisionOutcome, Platform, PlatformDecision, PlatformEvent, Whose

log = logging.getLogger(__name__)

ShopType = Literal["taobao", "tmall"]
# taobao.rp.refunds.agree: refunds and total amount per call (the API's own description).
AGREE_CAPS: dict[str, tuple[int, Decimal]] = {"taobao": (20, Decimal("6000")), "tmall": (30, Decimal("10000"))}
DETAIL_FIELDS = (
    "refund_id,tid,oid,status,refund_fee,modified,created,refund_phase,refund_version,has_good_return,"
    "good_status,order_status,refund_remind_timeout"
)
LIST_FIELDS = "refund_id,tid,oid,status,refund_fee,modified,refund_phase,has_good_return,order_status"
PAGE_SIZE = 100  # taobao.refunds.receive.get's maximum
MAX_PAGES = 50  # 5,000 refunds changed in one window is far beyond a shop's half hour

# Our codes for what the platform's limits turn into a person's task.
OVER_BATCH_CAP = "over_batch_cap"
SMS_VERIFICATION = "sms_verification_required"
NEEDS_PROOF = "refusal_needs_proof"
NO_RETURN_ADDRESS = "no_return_address"
NOT_POSSIBLE_NOW = "not_possible_in_status"
MESSAGE_BYTES = 400  # taobao.refund.message.add: content at most 400 bytes
MESSAGES_PAGE = 100  # the refund's latest messages read before posting; a refund has a handful
SELLER = "2"  # RefundMessage.owner_role: 1 buyer, 2 seller, 3 the platform's staff

# The statuses in which each decision has been made already (a repeat is not sent again).
DONE_IN: dict[DecisionKind, frozenset[RefundStatus]] = {
    DecisionKind.APPROVE_REFUND: frozenset({RefundStatus.SUCCESS}),
    DecisionKind.CONFIRM_RECEIPT: frozenset({RefundStatus.SUCCESS}),
    DecisionKind.AUTHORISE_RETURN: frozenset(
        {RefundStatus.WAIT_BUYER_RETURN_GOODS, RefundStatus.WAIT_SELLER_CONFIRM_GOODS, RefundStatus.SUCCESS}
    ),
    DecisionKind.REFUSE: frozenset({RefundStatus.SELLER_REFUSE_BUYER}),
}


def _needs_sms(*texts: str | None) -> bool:
    """The agree call failed asking for the merchant's SMS code: the API's description says the
    call fails and a code is texted; its answer names the code (短信/验证码, or "sms" in a code)."""
    joined = " ".join(t for t in texts if t).lower()
    return "验证码" in joined or "短信" in joined or "sms" in joined


class TaobaoAdapter:
    platform = Platform.TAOBAO

    def __init__(
        self,
        top: TopClient,
        *,
        shop_type: ShopType = "taobao",
        return_address_id: str | None = None,
        enrich_timeout: float = 3.0,
    ) -> None:
        self._top = top
        self._shop_type = shop_type
        self._return_address_id = return_address_id
        self._enrich_timeout = enrich_timeout

    # ---- receiving -----------------------------------------------------------------

    def verify(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return False  # Taobao's messages come only over the signed TMC connection, never as HTTP pushes

    def parse(self, body: bytes) -> list[PlatformEvent]:
        return parse_message(body)

    def whose_move(self, status: str | None) -> Whose:
        return whose_move(status)

    async def enrich(self, event: PlatformEvent) -> PlatformEvent:
        """The refund's deadline (`refund_remind_timeout`), type and version, which the message lacks."""
        if event.step.value == "other":
            return event
        try:
            record = await self.refund(event.after_sale_id, timeout=self._enrich_timeout)
        except (TopError, TopUnavailable) as error:
            log.warning("taobao refund %s: no detail (%s); taken as the message says", event.after_sale_id, error)
            return event
        return with_record(event, record)

    async def refund(self, refund_id: str, *, timeout: float | None = None) -> dict[str, Any]:
        answer = await self._top.call(
            "taobao.refund.get", {"refund_id": refund_id, "fields": DETAIL_FIELDS}, timeout=timeout
        )
        record = answer.get("refund")
        if not isinstance(record, dict):
            raise TopUnavailable("taobao.refund.get: no refund in the answer")
        return record

    async def changed_after_sales(self, since: datetime, until: datetime) -> list[PlatformEvent]:
        """Refunds changed in [since, until] (taobao.refunds.receive.get, `use_has_next` paging),
        each as the event of its current status; records we cannot read are skipped and logged."""
        events: list[PlatformEvent] = []
        for page in range(1, MAX_PAGES + 1):
            answer = await self._top.call(
                "taobao.refunds.receive.get",
                {
                    "fields": LIST_FIELDS,
                    "start_modified": top_time(since),
                    "end_modified": top_time(until),
                    "page_no": page,
                    "page_size": PAGE_SIZE,
                    "use_has_next": "true",
                },
            )
            refunds = (answer.get("refunds") or {}).get("refund") or []
            for record in refunds:
                try:
                    events.append(from_record(record, source="reconcile"))
                except ValueError as error:
                    log.warning("taobao refund list: a record skipped (%s)", error)
            if not answer.get("has_next") or not refunds:
                break
        return events

    # ---- acting -------------------------------------------------------------------

    async def decide(self, decision: PlatformDecision) -> DecisionOutcome:
        record = await self.refund(decision.after_sale_id)
        status = str(record.get("status") or "")
        if status in DONE_IN[decision.kind]:
            return DecisionOutcome(accepted=True, sent_at=datetime.now(UTC), platform_code="already_done")
        if status in (RefundStatus.CLOSED, RefundStatus.SUCCESS):
            return self._refused(
                NOT_POSSIBLE_NOW,
                f"退款已结束（{status}），无法再操作 the refund is finished on the platform ({status})",
            )
        try:
            if decision.kind in (DecisionKind.APPROVE_REFUND, DecisionKind.CONFIRM_RECEIPT):
                return await self._agree(decision, record)
            if decision.kind is DecisionKind.AUTHORISE_RETURN:
                return await self._agree_return(decision, record)
            return await self._refuse(decision, record)
        except TopError as error:
            code = SMS_VERIFICATION if _needs_sms(error.sub_code, error.sub_message, error.message) else None
            return self._refused(code or error.sub_code or error.code, error.sub_message or error.message)

    async def send_buyer_message(self, after_sale_id: str, text: str, idempotency_key: str) -> None:
        """A message on the refund (taobao.refund.message.add), once: a send whose answer was
        lost finds its text among the seller's messages and is not repeated."""
        content = text.encode()[:MESSAGE_BYTES].decode(errors="ignore")  # never half a character
        record = await self.refund(after_sale_id)
        answer = await self._top.call(
            "taobao.refund.messages.get",
            {
                "refund_id": after_sale_id,
                "fields": "id,content,owner_role",
                "refund_phase": record.get("refund_phase"),
                "page_no": 1,
                "page_size": MESSAGES_PAGE,
            },
        )
        posted = (answer.get("refund_messages") or {}).get("refund_message") or []
        if any(str(m.get("owner_role")) == SELLER and m.get("content") == content for m in posted):
            return
        await self._top.call("taobao.refund.message.add", {"refund_id": after_sale_id, "content": content})

    @staticmethod
    def _refused(code: str, message: str) -> DecisionOutcome:
        return DecisionOutcome(accepted=False, platform_code=code[:64], platform_message=message[:500])

    async def _agree(self, decision: PlatformDecision, record: dict[str, Any]) -> DecisionOutcome:
        amount = Decimal(str(record.get("refund_fee") or decision.amount or "0"))
        count_cap, amount_cap = AGREE_CAPS[self._shop_type]
        if amount > amount_cap:
            return self._refused(
                OVER_BATCH_CAP,
                f"退款金额 ¥{amount} 超过接口单次上限 ¥{amount_cap}，请在千牛/商家后台处理 "
                f"the refund of ¥{amount} is over the API's ¥{amount_cap} per call ({count_cap} refunds): "
                "agree it in the seller's back office",
            )
        fen = int((amount * 100).to_integral_value())
        info = f"{decision.after_sale_id}|{fen}|{record.get('refund_version') or ''}|{record.get('refund_phase') or ''}"
        answer = await self._top.call("taobao.rp.refunds.agree", {"refund_infos": info})
        results = (answer.get("results") or {}).get("refund_mapping_result") or []
        mine = next((r for r in results if str(r.get("refund_id")) == decision.after_sale_id), None)
        succeeded = bool(mine.get("succ")) if mine else answer.get("msg_code") == "OP_SUCC"
        if succeeded:
            return DecisionOutcome(accepted=True, sent_at=datetime.now(UTC))
        words = str((mine or {}).get("message") or answer.get("message") or answer.get("msg_code") or "")
        if _needs_sms(words, answer.get("msg_code")):
            return self._refused(
                SMS_VERIFICATION,
                f"需要商家短信验证码，请在千牛/商家后台完成退款 the platform asks for the merchant's SMS code: {words}",
            )
        return self._refused(str(answer.get("msg_code") or "refused"), words)

    async def _agree_return(self, decision: PlatformDecision, record: dict[str, Any]) -> DecisionOutcome:
        if not self._return_address_id:
            return self._refused(
                NO_RETURN_ADDRESS,
                "未配置退货地址编号 TAOBAO_RETURN_ADDRESS_ID is not set: authorise the return in the seller's back office",
            )
        answer = await self._top.call(
            "taobao.rp.returngoods.agree",
            {
                "refund_id": decision.after_sale_id,
                "seller_address_id": self._return_address_id,
                "refund_phase": record.get("refund_phase"),
                "refund_version": record.get("refund_version"),
                "remark": (decision.reason or "同意退货")[:200],
            },
        )
        if answer.get("is_success") is False:
            return self._refused("refused", str(answer.get("msg") or "taobao.rp.returngoods.agree refused"))
        return DecisionOutcome(accepted=True, sent_at=datetime.now(UTC))

    async def _refuse(self, decision: PlatformDecision, record: dict[str, Any]) -> DecisionOutcome:
        if self._shop_type == "tmall":
            return self._refused(
                NEEDS_PROOF,
                "天猫拒绝退款须上传凭证 Tmall needs a proof image to refuse: refuse in the seller's back office",
            )
        message = (decision.reason or "").strip()
        if len(message) < 2:
            message = "不符合退款条件 not eligible for a refund"
        answer = await self._top.call(
            "taobao.refund.refuse",
            {
                "refund_id": decision.after_sale_id,
                "refuse_message": message[:200],
                "refund_phase": record.get("refund_phase"),
                "refund_version": record.get("refund_version"),
            },
        )
        if answer.get("is_success") is False:
            return self._refused("refused", str(answer.get("msg") or "taobao.refund.refuse refused"))
        return DecisionOutcome(accepted=True, sent_at=datetime.now(UTC))
