"""Douyin Shop after-sales message topics: the push's numeric `tag` -> topic name and our step.

Tags and fields from zsmhub/doudian-sdk message/*.go (each message type's `Tag()`:
买家发起售后申请消息 200, 同意退款消息 201, 同意退货申请消息 202, 买家退货给卖家消息 203,
拒绝退款消息 204, 拒绝退货申请消息 205, 退款成功消息 206, 售后关闭消息 207, 买家修改售后申请消息 208,
售后超时时长变更消息 209, 确认换货并二次发货消息 211, 买家发起客服仲裁消息 212, 买家取消仲裁消息 215,
客服仲裁结果消息 216) and fudiwei/DotNetCore.SKIT.FlurlHttpClient.ByteDance
src/SKIT.FlurlHttpClient.ByteDance.DouyinShop/Events/Refund/ (topic names, field names).
After-sale types: afterSale/Detail's `after_sale_type` ("0-售后退货退款；1-售后仅退款；2-发货前退款；
3-换货；6-价保；7-补寄；8-维修", zsmhub api/afterSale_Detail/response/).
"""

from __future__ import annotations

from typing import NamedTuple

from domain.marketplace import AfterSaleKind, PlatformStep


class Topic(NamedTuple):
    name: str
    step: PlatformStep


TOPICS: dict[str, Topic] = {
    "200": Topic("doudian_refund_RefundCreated", PlatformStep.REQUESTED),
    "201": Topic("doudian_refund_RefundAgreed", PlatformStep.REFUND_AGREED),
    "202": Topic("doudian_refund_ReturnApplyAgreed", PlatformStep.RETURN_AGREED),
    "203": Topic("doudian_refund_BuyerReturnGoods", PlatformStep.BUYER_RETURNED),
    "204": Topic("doudian_refund_RefundRefused", PlatformStep.REFUND_REFUSED),
    "205": Topic("doudian_refund_ReturnApplyRefused", PlatformStep.RETURN_REFUSED),
    "206": Topic("doudian_refund_RefundSuccess", PlatformStep.REFUNDED),
    "207": Topic("doudian_refund_RefundClosed", PlatformStep.CLOSED),
    "208": Topic("doudian_refund_RefundModified", PlatformStep.MODIFIED),
    "209": Topic("doudian_refund_ExpirationChange", PlatformStep.DEADLINE_CHANGED),
    "211": Topic("doudian_refund_ExchangeComfirmed", PlatformStep.EXCHANGE_CONFIRMED),  # sic: the platform's spelling
    "212": Topic("doudian_refund_ArbitrateApplied", PlatformStep.ARBITRATION),
    "215": Topic("doudian_refund_ArbitrateCancelled", PlatformStep.ARBITRATION_DONE),
    "216": Topic("doudian_refund_ArbitrateAudited", PlatformStep.ARBITRATION_DONE),
}

KINDS: dict[int, AfterSaleKind] = {
    0: AfterSaleKind.RETURN_AND_REFUND,
    1: AfterSaleKind.REFUND_AFTER_SHIPPING,
    2: AfterSaleKind.REFUND_BEFORE_SHIPPING,
    3: AfterSaleKind.EXCHANGE,
    6: AfterSaleKind.PRICE_PROTECTION,
    7: AfterSaleKind.RESEND,
    8: AfterSaleKind.REPAIR,
}

# The instant each topic names for when it happened (else update_time, else receipt).
EVENT_TIME_FIELDS = ("apply_time", "agree_time", "refuse_time", "success_time", "close_time", "modify_time")
