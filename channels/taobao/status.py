"""Taobao/Tmall refunds as data: the TMC refund topics, the refund status machine and whose
move each status waits for (the README's status mapping table is this module).

Sources: GitHub `bububa/opentaobao` model/refund/Refund.go (the `status` values and
`refund_remind_timeout`), model/refund/TaobaoRefundsReceiveGetAPIRequest.go (the list's
filters); GitHub `TheNorthMemory/tmc.js` types/taobao.d.ts (the refund topics and their
fields: refund_id, tid, oid, refund_fee, refund_phase, bill_type, modified).
"""

from __future__ import annotations

from enum import StrEnum

from domain.marketplace import AfterSaleKind, PlatformStep, Whose

TOPIC_PREFIX = "taobao_refund_"


class RefundStatus(StrEnum):
    WAIT_SELLER_AGREE = "WAIT_SELLER_AGREE"  # 买家已经申请退款，等待卖家同意
    WAIT_BUYER_RETURN_GOODS = "WAIT_BUYER_RETURN_GOODS"  # 卖家已经同意退款，等待买家退货
    WAIT_SELLER_CONFIRM_GOODS = "WAIT_SELLER_CONFIRM_GOODS"  # 买家已经退货，等待卖家确认收货
    SELLER_REFUSE_BUYER = "SELLER_REFUSE_BUYER"  # 卖家拒绝退款
    CLOSED = "CLOSED"  # 退款关闭
    SUCCESS = "SUCCESS"  # 退款成功


# The machine: WAIT_SELLER_AGREE → WAIT_BUYER_RETURN_GOODS → WAIT_SELLER_CONFIRM_GOODS → SUCCESS,
# a refusal the buyer may answer by changing the request (back to WAIT_SELLER_AGREE), and
# CLOSED (the buyer withdrew, or the platform closed it) from anywhere before SUCCESS.
TRANSITIONS: dict[RefundStatus, frozenset[RefundStatus]] = {
    RefundStatus.WAIT_SELLER_AGREE: frozenset(
        {
            RefundStatus.WAIT_BUYER_RETURN_GOODS,
            RefundStatus.SELLER_REFUSE_BUYER,
            RefundStatus.SUCCESS,  # refund only: agreeing pays at once
            RefundStatus.CLOSED,
        }
    ),
    RefundStatus.WAIT_BUYER_RETURN_GOODS: frozenset({RefundStatus.WAIT_SELLER_CONFIRM_GOODS, RefundStatus.CLOSED}),
    RefundStatus.WAIT_SELLER_CONFIRM_GOODS: frozenset(
        {RefundStatus.SUCCESS, RefundStatus.SELLER_REFUSE_BUYER, RefundStatus.CLOSED}
    ),
    RefundStatus.SELLER_REFUSE_BUYER: frozenset({RefundStatus.WAIT_SELLER_AGREE, RefundStatus.CLOSED}),
    RefundStatus.SUCCESS: frozenset(),
    RefundStatus.CLOSED: frozenset(),
}

# Whose move each status waits for: only the merchant's runs the platform clock.
WHOSE: dict[RefundStatus, Whose] = {
    RefundStatus.WAIT_SELLER_AGREE: Whose.MERCHANT,
    RefundStatus.WAIT_BUYER_RETURN_GOODS: Whose.BUYER,
    RefundStatus.WAIT_SELLER_CONFIRM_GOODS: Whose.MERCHANT,
    RefundStatus.SELLER_REFUSE_BUYER: Whose.BUYER,
    RefundStatus.SUCCESS: Whose.NOBODY,
    RefundStatus.CLOSED: Whose.NOBODY,
}

# Each refund topic: the step it reports and the status the refund is in after it.
# RefundSellerAgreeAgreement on a refund without goods to return is followed by RefundSuccess;
# with goods, the refund waits for the buyer's parcel (the detail's status settles which).
TOPICS: dict[str, tuple[PlatformStep, RefundStatus]] = {
    "taobao_refund_RefundCreated": (PlatformStep.REQUESTED, RefundStatus.WAIT_SELLER_AGREE),
    "taobao_refund_RefundSellerAgreeAgreement": (PlatformStep.REFUND_AGREED, RefundStatus.WAIT_BUYER_RETURN_GOODS),
    "taobao_refund_RefundSellerRefuseAgreement": (PlatformStep.REFUND_REFUSED, RefundStatus.SELLER_REFUSE_BUYER),
    "taobao_refund_RefundBuyerReturnGoods": (PlatformStep.BUYER_RETURNED, RefundStatus.WAIT_SELLER_CONFIRM_GOODS),
    "taobao_refund_RefundBuyerModifyAgreement": (PlatformStep.MODIFIED, RefundStatus.WAIT_SELLER_AGREE),
    "taobao_refund_RefundClosed": (PlatformStep.CLOSED, RefundStatus.CLOSED),
    "taobao_refund_RefundSuccess": (PlatformStep.REFUNDED, RefundStatus.SUCCESS),
}

# A status found by the list or detail API (reconciliation) as the step that led to it.
STEP_OF_STATUS: dict[RefundStatus, PlatformStep] = {
    RefundStatus.WAIT_SELLER_AGREE: PlatformStep.REQUESTED,
    RefundStatus.WAIT_BUYER_RETURN_GOODS: PlatformStep.RETURN_AGREED,
    RefundStatus.WAIT_SELLER_CONFIRM_GOODS: PlatformStep.BUYER_RETURNED,
    RefundStatus.SELLER_REFUSE_BUYER: PlatformStep.REFUND_REFUSED,
    RefundStatus.SUCCESS: PlatformStep.REFUNDED,
    RefundStatus.CLOSED: PlatformStep.CLOSED,
}

# `bill_type` of the refund messages: refund_bill 退款单, return_bill 退货单, replace_bill 退换货单.
KIND_OF_BILL: dict[str, AfterSaleKind] = {
    "return_bill": AfterSaleKind.RETURN_AND_REFUND,
    "replace_bill": AfterSaleKind.EXCHANGE,
}


def after_sale_kind(bill_type: str | None, has_good_return: bool | None, order_status: str | None) -> AfterSaleKind:
    """The request type from what the message or the detail says: a refund without goods is
    "before shipping" while the order still waits for the seller to ship, "after" otherwise."""
    if bill_type in KIND_OF_BILL:
        return KIND_OF_BILL[bill_type]
    if has_good_return:
        return AfterSaleKind.RETURN_AND_REFUND
    if order_status == "WAIT_SELLER_SEND_GOODS":
        return AfterSaleKind.REFUND_BEFORE_SHIPPING
    return AfterSaleKind.REFUND_AFTER_SHIPPING


def whose_move(status: str | None) -> Whose:
    try:
        return WHOSE[RefundStatus(status)] if status else Whose.MERCHANT
    except ValueError:
        return Whose.MERCHANT  # a status we do not know: the merchant had better look


def can_follow(before: str | None, after: str) -> bool:
    """Whether the machine allows `after` right after `before` (the same status is a repeat)."""
    if before is None or before == after:
        return True
    try:
        return RefundStatus(after) in TRANSITIONS[RefundStatus(before)]
    except ValueError:
        return False
