"""Marketplace after-sales in our words: what a platform message means for a case, and what a
case decides back. Pure models shared by the channel adapters (channels/), the intake service,
the workflow and the decision activity; each platform's own codes stay in its adapter.

Never personal data here: platforms send ids, codes, amounts and instants, and that is all we keep.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from domain.case import CaseIntake, Channel, Customer, Demand, Order, Product
from domain.text import OptionalText, Text


class Platform(StrEnum):
    DOUYIN = "douyin"  # 抖店 Douyin Shop: HTTP message push (channels/douyin/)
    TAOBAO = "taobao"  # 淘宝/天猫: TMC messages over a WebSocket (channels/taobao/)


class PlatformStep(StrEnum):
    """What a platform message says happened to an after-sale, whatever the platform."""

    REQUESTED = "requested"  # the buyer applied (Douyin RefundCreated, Taobao RefundCreated)
    MODIFIED = "modified"  # the buyer changed the application
    REFUND_AGREED = "refund_agreed"  # the merchant (or the platform for them) agreed to refund
    RETURN_AGREED = "return_agreed"  # the merchant authorised the return of the goods
    RETURN_REFUSED = "return_refused"
    REFUND_REFUSED = "refund_refused"
    BUYER_RETURNED = "buyer_returned"  # the buyer shipped the goods back
    REFUNDED = "refunded"  # the money reached the buyer: the after-sale succeeded
    EXCHANGE_CONFIRMED = "exchange_confirmed"  # the merchant confirmed the exchange and shipped again
    CLOSED = "closed"  # the after-sale ended without (further) refund
    DEADLINE_CHANGED = "deadline_changed"  # the platform moved the merchant's deadline
    ARBITRATION = "arbitration"  # the platform's customer service took over (applied, evidence, ...)
    ARBITRATION_DONE = "arbitration_done"  # arbitration concluded or was cancelled
    OTHER = "other"  # a topic we record but do not act on


# Steps that end the after-sale on the platform: nothing is due from the merchant after them.
FINAL_STEPS = frozenset({PlatformStep.REFUNDED, PlatformStep.CLOSED})


class AfterSaleKind(StrEnum):
    """The buyer's request type (Douyin `aftersale_type`, Taobao's refund phase and goods flag)."""

    RETURN_AND_REFUND = "return_and_refund"
    REFUND_AFTER_SHIPPING = "refund_after_shipping"
    REFUND_BEFORE_SHIPPING = "refund_before_shipping"
    EXCHANGE = "exchange"
    PRICE_PROTECTION = "price_protection"
    RESEND = "resend"
    REPAIR = "repair"
    OTHER = "other"


class Whose(StrEnum):
    """Whose move the platform's current status waits for: only the merchant's runs our clock."""

    MERCHANT = "merchant"
    BUYER = "buyer"
    PLATFORM = "platform"
    NOBODY = "nobody"  # finished


class PlatformEvent(BaseModel):
    """One platform message, verified and normalised by its adapter: what the intake records
    (by `message_id`, once) and what a case acts on (by `after_sale_id`, one case each)."""

    platform: Platform
    message_id: Text = Field(min_length=1, max_length=128)
    topic: Text = Field(min_length=1, max_length=64)  # the platform's name, e.g. doudian_refund_RefundCreated
    step: PlatformStep
    after_sale_id: Text = Field(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")
    order_number: OptionalText = Field(default=None, max_length=64)
    sub_order: OptionalText = Field(default=None, max_length=64)  # the order line (Douyin s_id)
    shop_id: OptionalText = Field(default=None, max_length=64)
    kind: AfterSaleKind | None = None
    status: OptionalText = Field(default=None, max_length=32)  # the platform's status code, as text
    amount: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)  # asked refund, CNY
    shipping_amount: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    reason: OptionalText = Field(default=None, max_length=200)  # the platform's reason code or label
    deadline: AwareDatetime | None = None  # the platform's deadline for the current step
    extended: bool = False  # the platform extended the deadline (Douyin tag "时效延长")
    occurred_at: AwareDatetime  # when it happened on the platform: the order messages apply in
    version: int | None = None  # the platform's update stamp (Douyin update_time), for ordering ties
    whose: Whose | None = None  # whose move the status waits for (the adapter's status mapping)
    data: dict[str, Any] = Field(default_factory=dict)  # the message's own fields, as sent (ids and codes only)

    @property
    def link_key(self) -> str:
        """`douyin:7123...`: the after-sale's one key, on the record and as a search attribute."""
        return f"{self.platform.value}:{self.after_sale_id}"


class IntakeResult(BaseModel):
    """What taking a platform message did."""

    message_id: str
    duplicate: bool = False  # seen before: nothing acted again
    case_number: str | None = None  # the after-sale's case, once there is one
    applied: bool = False  # the case has acted on it
    held: bool = False  # kept until the after-sale's case can be opened (out of order)


class DecisionKind(StrEnum):
    """What our case decides that the platform must hear."""

    APPROVE_REFUND = "approve_refund"
    AUTHORISE_RETURN = "authorise_return"
    REFUSE = "refuse"
    CONFIRM_RECEIPT = "confirm_receipt"  # the returned parcel arrived: refund it


class PlatformDecision(BaseModel):
    """A decision call to a platform; `idempotency_key` is derived from the case and its step."""

    platform: Platform
    after_sale_id: Text = Field(min_length=1, max_length=64)
    kind: DecisionKind
    after_sale_kind: AfterSaleKind | None = None
    reason: OptionalText = Field(default=None, max_length=500)
    amount: Decimal | None = None
    idempotency_key: Text = Field(min_length=1, max_length=128)
    case_number: Text = Field(min_length=1, max_length=32)


class DecisionOutcome(BaseModel):
    accepted: bool
    platform_code: OptionalText = Field(default=None, max_length=64)
    platform_message: OptionalText = Field(default=None, max_length=500)  # the platform's words on a refusal
    sent_at: datetime | None = None


# The platform steps that confirm a decision we sent.
CONFIRMED_BY: dict[DecisionKind, frozenset[PlatformStep]] = {
    DecisionKind.APPROVE_REFUND: frozenset({PlatformStep.REFUND_AGREED, PlatformStep.REFUNDED}),
    DecisionKind.AUTHORISE_RETURN: frozenset({PlatformStep.RETURN_AGREED}),
    DecisionKind.REFUSE: frozenset({PlatformStep.REFUND_REFUSED, PlatformStep.RETURN_REFUSED, PlatformStep.CLOSED}),
    DecisionKind.CONFIRM_RECEIPT: frozenset({PlatformStep.REFUND_AGREED, PlatformStep.REFUNDED}),
}

DECISION_ZH: dict[DecisionKind, str] = {
    DecisionKind.APPROVE_REFUND: "同意退款 approve the refund",
    DecisionKind.AUTHORISE_RETURN: "同意退货 authorise the return",
    DecisionKind.REFUSE: "拒绝 refuse",
    DecisionKind.CONFIRM_RECEIPT: "确认收货并退款 confirm receipt and refund",
}

STEP_ZH: dict[PlatformStep, str] = {
    PlatformStep.REQUESTED: "买家申请售后 the buyer applied",
    PlatformStep.MODIFIED: "买家修改申请 the buyer changed the application",
    PlatformStep.REFUND_AGREED: "同意退款 refund agreed",
    PlatformStep.RETURN_AGREED: "同意退货 return authorised",
    PlatformStep.RETURN_REFUSED: "拒绝退货 return refused",
    PlatformStep.REFUND_REFUSED: "拒绝退款 refund refused",
    PlatformStep.BUYER_RETURNED: "买家已退货 the buyer shipped the goods back",
    PlatformStep.REFUNDED: "退款成功 refunded",
    PlatformStep.EXCHANGE_CONFIRMED: "换货已确认 exchange confirmed",
    PlatformStep.CLOSED: "售后关闭 after-sale closed",
    PlatformStep.DEADLINE_CHANGED: "平台时限变更 the platform moved the deadline",
    PlatformStep.ARBITRATION: "平台客服仲裁 platform arbitration",
    PlatformStep.ARBITRATION_DONE: "仲裁结束 arbitration ended",
    PlatformStep.OTHER: "其他消息 other message",
}


class PlatformDecisionRequest(BaseModel):
    """A person's decision on a marketplace after-sale, sent to the platform by the case."""

    kind: DecisionKind
    reason: OptionalText = Field(default=None, min_length=1, max_length=500, description="required to refuse")

    @model_validator(mode="after")
    def _reason_to_refuse(self) -> PlatformDecisionRequest:
        if self.kind is DecisionKind.REFUSE and not self.reason:
            raise ValueError("reason: a refusal needs the reason the platform shows the buyer")
        return self


class SentDecision(BaseModel):
    kind: DecisionKind
    key: str
    sent_at: datetime
    confirmed_at: datetime | None = None


class PlatformTask(BaseModel):
    """The platform refused a decision: a person takes it up with the platform's words."""

    decision: DecisionKind
    key: str
    platform_code: str | None = None
    platform_message: str | None = None
    created_at: datetime


class PlatformLink(BaseModel):
    """The after-sale a marketplace case stands for, as the workflow keeps it."""

    platform: Platform
    after_sale_id: str
    kind: AfterSaleKind | None = None
    status: str | None = None  # the platform's status code last applied
    step: PlatformStep | None = None  # the last step applied
    occurred_at: datetime | None = None  # of the last message applied: older ones do not move the status
    deadline: datetime | None = None  # the platform's deadline for the current step
    extended: bool = False
    applied: list[str] = Field(default_factory=list)  # message ids applied (the newest few), acted on once
    decisions: list[SentDecision] = Field(default_factory=list)
    task: PlatformTask | None = None  # open while a refused decision waits for a person

    @property
    def key(self) -> str:
        return f"{self.platform.value}:{self.after_sale_id}"


# How many applied message ids a case keeps to refuse a second application: a platform's
# redelivery comes within its retry window, long before this many newer messages arrive.
APPLIED_MEMORY = 50


# What the buyer asks for, by request type: the case's demands.
_DEMANDS: dict[AfterSaleKind, list[Demand]] = {
    AfterSaleKind.RETURN_AND_REFUND: [Demand.REFUND],
    AfterSaleKind.REFUND_AFTER_SHIPPING: [Demand.REFUND],
    AfterSaleKind.REFUND_BEFORE_SHIPPING: [Demand.REFUND],
    AfterSaleKind.EXCHANGE: [Demand.EXCHANGE],
    AfterSaleKind.PRICE_PROTECTION: [Demand.REFUND],
    AfterSaleKind.RESEND: [Demand.EXPLANATION],
    AfterSaleKind.REPAIR: [Demand.REPAIR],
    AfterSaleKind.OTHER: [],
}

_KIND_ZH: dict[AfterSaleKind, str] = {
    AfterSaleKind.RETURN_AND_REFUND: "退货退款 return and refund",
    AfterSaleKind.REFUND_AFTER_SHIPPING: "已发货仅退款 refund after shipping",
    AfterSaleKind.REFUND_BEFORE_SHIPPING: "未发货仅退款 refund before shipping",
    AfterSaleKind.EXCHANGE: "换货 exchange",
    AfterSaleKind.PRICE_PROTECTION: "价保 price protection",
    AfterSaleKind.RESEND: "补寄 re-send",
    AfterSaleKind.REPAIR: "维修 repair",
    AfterSaleKind.OTHER: "其他 other",
}

_PLATFORM_ZH = {Platform.DOUYIN: "抖店 Douyin Shop", Platform.TAOBAO: "淘宝/天猫 Taobao/Tmall"}


def case_intake(event: PlatformEvent) -> CaseIntake | None:
    """The case a platform message opens: order, amount, type and reason in our intake, channel
    `marketplace`. None for a message that cannot open one (no order or amount: it is held).
    The platforms send no buyer's name or contact to the merchant's app; the case names the
    buyer by platform only."""
    if event.order_number is None or event.amount is None or event.kind is None:
        return None
    reason = f"，原因 reason {event.reason}" if event.reason else ""
    return CaseIntake(
        channel=Channel.MARKETPLACE,
        customer=Customer(name=f"{_PLATFORM_ZH[event.platform].split()[0]}买家 buyer"),
        order=Order(number=event.order_number, paid_amount=event.amount),
        product=Product(sku=event.sub_order or event.order_number),
        description=(
            f"{_PLATFORM_ZH[event.platform]} 售后 after-sale {event.after_sale_id}："
            f"{_KIND_ZH[event.kind]}，申请金额 amount ¥{event.amount}{reason}"
        ),
        occurred_at=event.occurred_at,
        demands=list(_DEMANDS[event.kind]),
    )
