"""The case: what arrives at intake, what people decide, and where it stands."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from domain.text import Amount, Line, OptionalText, Text


class Channel(StrEnum):
    PHONE = "phone"
    CHAT = "chat"
    EMAIL = "email"
    SOCIAL = "social"
    WEB_FORM = "web_form"
    WECHAT = "wechat"
    IN_STORE = "in_store"
    MARKETPLACE = "marketplace"
    INTERNAL = "internal"


class CustomerTier(StrEnum):
    NORMAL = "normal"
    VIP = "vip"


class Priority(StrEnum):
    P1 = "P1"  # critical: safety, injury, high-value loss, group complaint, media
    P2 = "P2"  # high: wrong or badly damaged item, repeat failure, broken promise
    P3 = "P3"  # normal: minor damage, missing gift, small service flaw
    P4 = "P4"  # low: consultation, old-order enquiry, suggestion


class Category(StrEnum):
    PRODUCT_QUALITY = "product_quality"
    LOGISTICS = "logistics"
    USAGE = "usage"
    SIZE_FIT = "size_fit"
    DISCOMFORT = "discomfort"
    ORDER_PAYMENT = "order_payment"
    REFUND_RETURN = "refund_return"
    SERVICE = "service"
    OTHER = "other"


class Department(StrEnum):
    QUALITY = "quality"
    LOGISTICS = "logistics"
    SALES = "sales"
    RND_REPAIR = "rnd_repair"
    TECH_SUPPORT = "tech_support"
    OPERATIONS = "operations"
    CUSTOMER_SERVICE = "customer_service"


class Demand(StrEnum):
    EXPLANATION = "explanation"
    EXCHANGE = "exchange"
    REFUND = "refund"
    REPAIR = "repair"
    COMPENSATION = "compensation"
    PROCESS_IMPROVEMENT = "process_improvement"


class Stage(StrEnum):
    RECEIVED = "received"
    TRIAGED = "triaged"
    IN_HANDLING = "in_handling"
    AWAITING_CUSTOMER = "awaiting_customer"
    PLAN_PROPOSED = "plan_proposed"
    EXECUTING = "executing"
    AWAITING_FEEDBACK = "awaiting_feedback"
    CLOSED = "closed"
    REOPENED = "reopened"
    WITHDRAWN = "withdrawn"
    ARCHIVED = "archived"


class Outcome(StrEnum):
    SATISFIED = "satisfied"
    NO_RESPONSE = "no_response"
    WITHDRAWN = "withdrawn"
    DUPLICATE = "duplicate"


class Role(StrEnum):
    AGENT = "agent"
    HANDLER = "handler"
    SUPERVISOR = "supervisor"
    HEAD = "head"
    ADMIN = "admin"
    SYSTEM = "system"
    # Internal systems that report the steps of a return or repair (domain/returns.py).
    WAREHOUSE = "warehouse"
    LOGISTICS = "logistics"


class ResolutionType(StrEnum):
    EXPLANATION = "explanation"
    REFUND = "refund"
    RETURN = "return"
    EXCHANGE = "exchange"
    REPAIR = "repair"
    COMPENSATION = "compensation"


def format_case_number(prefix: str, day: str, sequence: int) -> str:
    """`AS-20261123-000042`: opaque, sortable, free of personal data; `day` is YYYYMMDD."""
    return f"{prefix}-{day}-{sequence:06d}"


class Actor(BaseModel):
    """Who did something: an employee id and the role they acted in."""

    model_config = ConfigDict(frozen=True)

    id: Text = Field(min_length=1, max_length=64)
    role: Role
    department: Department | None = None


SYSTEM_ACTOR = Actor(id="aftersales", role=Role.SYSTEM)


class IntakeFlag(StrEnum):
    """Facts the caller knows at intake that raise the priority (DOMAIN.md grade I / II)."""

    GROUP_COMPLAINT = "group_complaint"
    MEDIA_ATTENTION = "media_attention"
    INJURY = "injury"
    REPEAT_FAILURE = "repeat_failure"


class Language(StrEnum):
    """The language of the messages a customer receives; zh-CN unless the customer chose English."""

    ZH_CN = "zh-CN"
    EN = "en"


class Customer(BaseModel):
    """Personal data: shown only to the people handling the case, masked elsewhere."""

    name: Text = Field(min_length=1, max_length=100)
    phone: OptionalText = Field(default=None, pattern=r"^\+?[0-9 ()-]{5,20}$")
    email: OptionalText = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")
    tier: CustomerTier = CustomerTier.NORMAL
    # Messages only (delivery/): unset means zh-CN and the business calendar's timezone.
    language: Language | None = None
    timezone: OptionalText = Field(default=None, max_length=64, description="IANA zone, e.g. Europe/Berlin")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("not a known IANA timezone (e.g. Asia/Shanghai)") from None
        return zone


class Order(BaseModel):
    number: Text = Field(min_length=1, max_length=64)
    paid_amount: Amount
    currency: Text = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    purchased_on: datetime | None = None
    payment_route: OptionalText = Field(default=None, max_length=64)


class Product(BaseModel):
    sku: Text = Field(min_length=1, max_length=64)
    model: OptionalText = Field(default=None, max_length=100)
    batch: OptionalText = Field(default=None, max_length=64)
    serial_number: OptionalText = Field(default=None, max_length=64)


class Evidence(BaseModel):
    """A reference to stored evidence (photo, video, screenshot, call recording)."""

    kind: Text = Field(min_length=1, max_length=32)
    uri: Text = Field(min_length=1, max_length=500)


class CaseIntake(BaseModel):
    """Everything recorded when a case arrives."""

    channel: Channel
    customer: Customer
    order: Order
    product: Product
    description: Text = Field(min_length=1, max_length=5000)
    occurred_at: AwareDatetime | None = None
    demands: list[Demand] = Field(default_factory=list, max_length=6)
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)
    flags: list[IntakeFlag] = Field(default_factory=list, max_length=len(IntakeFlag))


class CategoryMatch(BaseModel):
    category: Category
    terms: list[str]
    confidence: float = Field(ge=0, le=1)  # this category's share of the matched weight


class TriageSuggestion(BaseModel):
    """What the triage rules propose; an agent confirms or overrides it."""

    categories: list[Category] = Field(default_factory=list)
    department: Department | None = None
    matched_terms: list[str] = Field(default_factory=list)
    matches: list[CategoryMatch] = Field(default_factory=list)
    priority: Priority | None = None  # absent on suggestions made before priority rules existed
    reasons: list[str] = Field(default_factory=list)  # why that priority
    rules_version: str | None = None


class TriageRequest(BaseModel):
    """What the triage activity needs: the intake, and the case number to look for repeats."""

    number: str
    intake: CaseIntake


class TriageDecision(BaseModel):
    categories: list[Category] = Field(min_length=1, max_length=len(Category))
    priority: Priority
    department: Department
    note: OptionalText = Field(default=None, max_length=2000)
    # Why the agent departs from the suggestion; it goes on the timeline with what was overridden.
    override_reason: OptionalText = Field(default=None, max_length=2000)


class Note(BaseModel):
    text: Text = Field(min_length=1, max_length=5000)


class InfoRequest(BaseModel):
    question: Text = Field(min_length=1, max_length=2000)


class CustomerReply(BaseModel):
    text: Text = Field(min_length=1, max_length=5000)
    evidence: list[Evidence] = Field(default_factory=list, max_length=50)


class RefundKind(StrEnum):
    """DOMAIN.md: full; partial for a coupon share or a price difference; the shipping fee
    when the customer is not at fault."""

    FULL = "full"
    COUPON_SHARE = "coupon_share"
    PRICE_DIFFERENCE = "price_difference"
    SHIPPING_FEE = "shipping_fee"


class AfterReturn(StrEnum):
    """What settles a return once the warehouse has restocked the item."""

    REFUND = "refund"
    EXCHANGE = "exchange"


class Resolution(BaseModel):
    type: ResolutionType
    amount: Amount | None = None
    currency: Text = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    detail: OptionalText = Field(default=None, max_length=2000)
    refund_kind: RefundKind | None = Field(default=None, description="Refunds only; a refund without one is full")
    after_return: AfterReturn | None = Field(
        default=None, description="Returns only: a refund (the default) or an exchange once the item is restocked"
    )

    # Field validators (not one for the model) so a refusal names the field that does not belong.
    @field_validator("refund_kind")
    @classmethod
    def _refund_kind_only_for_refunds(cls, kind: RefundKind | None, info: ValidationInfo) -> RefundKind | None:
        if kind is not None and info.data.get("type", ResolutionType.REFUND) is not ResolutionType.REFUND:
            raise ValueError("refund_kind applies to a refund only")
        return kind

    @field_validator("after_return")
    @classmethod
    def _after_return_only_for_returns(cls, after: AfterReturn | None, info: ValidationInfo) -> AfterReturn | None:
        if after is not None and info.data.get("type", ResolutionType.RETURN) is not ResolutionType.RETURN:
            raise ValueError("after_return applies to a return only")
        return after


class SolutionPlan(BaseModel):
    root_cause: Text = Field(min_length=1, max_length=5000)
    measures: list[Line] = Field(min_length=1, max_length=50)
    owner: Text = Field(min_length=1, max_length=64)
    due_at: AwareDatetime | None = None
    prevention: OptionalText = Field(default=None, max_length=5000)
    resolution: Resolution


class Rejection(BaseModel):
    reason: Text = Field(min_length=1, max_length=2000)


class Approval(BaseModel):
    comment: OptionalText = Field(default=None, max_length=2000)


class Feedback(BaseModel):
    """The customer's answer to the satisfaction survey."""

    score: int = Field(ge=1, le=5)
    satisfied: bool | None = None
    comment: OptionalText = Field(default=None, max_length=5000)

    @property
    def reopens(self) -> bool:
        # DOMAIN.md: 3 or less, or an explicit "not satisfied", reopens the case.
        return self.score <= 3 or self.satisfied is False


class Withdrawal(BaseModel):
    reason: Text = Field(min_length=1, max_length=2000)


class Reassignment(BaseModel):
    """A supervisor moves a case to another department's queue, or to a named handler."""

    department: Department | None = None
    assignee: OptionalText = Field(default=None, min_length=1, max_length=64)
    reason: Text = Field(min_length=1, max_length=2000)


class FirstContactAnswer(BaseModel):
    """A simple case answered at first contact from the knowledge base (DOMAIN.md step 2)."""

    categories: list[Category] = Field(min_length=1, max_length=len(Category))
    priority: Priority = Priority.P4
    article: Text = Field(min_length=1, max_length=200, description="Knowledge-base article id")
    answer: Text = Field(min_length=1, max_length=5000)
    override_reason: OptionalText = Field(
        default=None,
        max_length=2000,
        description="Why a case suggested P1 or P2 (a safety hazard, a repeat failure, a high value) is answered "
        "at a lower priority",
    )


class DuplicateMark(BaseModel):
    """This case repeats `original`: it closes as a duplicate and links to it."""

    original: Text = Field(min_length=1, max_length=32, pattern=r"^[A-Z]{2,8}-[0-9]{8}-[0-9]{6}$")
    note: OptionalText = Field(default=None, max_length=2000)


class DuplicateLink(BaseModel):
    """What the original case notes when another is marked as its duplicate."""

    duplicate: str
    marked_by: Actor


class ProposedPlan(BaseModel):
    plan: SolutionPlan
    author: Actor
    proposed_at: datetime


class LedgerReceipt(BaseModel):
    """What the execution of a resolution left in the ledger."""

    reference: str
    resolution_type: ResolutionType
    amount: Decimal | None
    currency: str
    executed_at: datetime
    route: str | None = None  # the payment route that carried it (original, alternative, manual)


class FollowUpTask(BaseModel):
    """An approved resolution that could not be carried out on any route: a person takes over.
    The case waits in `executing` until then; nothing was paid."""

    reason: str
    created_at: datetime
    resolution_key: str  # the approved resolution's key: whatever is paid by hand is keyed by it too
    resolution_type: ResolutionType | None = None  # what failed (a refund chosen instead of an exchange, say)
    amount: Decimal | None = None
    failed_routes: list[dict[str, str | None]] = Field(default_factory=list)


class FollowUpCompletion(BaseModel):
    """A person carried out the resolution by hand (e.g. a bank transfer) and says how."""

    reference: Text = Field(min_length=1, max_length=128, description="The payment or shipment reference")
    note: OptionalText = Field(default=None, max_length=2000)


class StockCheck(BaseModel):
    """What the stock service answered for an exchange: the item, and similar items in stock."""

    sku: str
    in_stock: bool
    similar: list[str] = Field(default_factory=list)


class ExchangeOffer(BaseModel):
    """The exchange item is out of stock: the customer chooses a similar item or a refund."""

    sku: str
    similar: list[str]
    refund_amount: Decimal
    currency: str
    offered_at: datetime
    # Unanswered, the customer is reminded, then refunded (unset on offers made before that rule).
    remind_at: datetime | None = None
    reminded_at: datetime | None = None
    default_at: datetime | None = None


class ExchangeChoice(BaseModel):
    """The customer's answer to an exchange offer, relayed by an agent."""

    option: Literal["similar_item", "refund"]
    sku: OptionalText = Field(
        default=None, max_length=64, validate_default=True, description="The similar item chosen (similar_item only)"
    )

    @field_validator("sku")
    @classmethod
    def _sku_for_a_similar_item(cls, sku: str | None, info: ValidationInfo) -> str | None:
        # On the field, so the refusal names `sku` (checked even when it is left out).
        if "option" in info.data and (info.data["option"] == "similar_item") != (sku is not None):
            raise ValueError("a similar_item choice names the sku, a refund does not")
        return sku
