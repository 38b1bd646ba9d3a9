"""Reading Douyin Shop's after-sale list (afterSale/List) for reconciliation: each listed
after-sale as the event of its current status.

Request (zsmhub/doudian-sdk api/afterSale_List/request/afterSale_List_request.go
`AfterSaleListParam`): `update_start_time` / `update_end_time` ("更新时间开始/结束，单位为秒"),
`page` ("页数，从0开始"), `size` ("每页数量，最多100个"), `order_by` ("update_time asc").
Answer (…/response/afterSale_List_response.go `AfterSaleListData`): `items[]` of
{`aftersale_info`, `order_info`, `text_part`, `seller_logs`}, `has_more`, `total`, `page`, `size`.
`aftersale_info` carries `aftersale_id`, `aftersale_type`, `aftersale_status` (the
standard_aftersale_status numbers channels/douyin/status.py maps), `related_id`, `apply_time`,
`update_time`, `status_deadline`, `refund_amount`, `refund_post_amount` (cents),
`aftersale_tags[].tag_detail`; `order_info` carries `shop_order_id` and
`related_order_info[].sku_order_id`. The list carries no reason code and no shop id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from channels.base import MessageRejected
from channels.douyin.messages import _cents, _instant, _text
from channels.douyin.status import whose_move
from channels.douyin.topics import KINDS
from domain.marketplace import Platform, PlatformEvent, PlatformStep

PAGE_SIZE = 100  # afterSale/List's maximum
MAX_PAGES = 50  # 5,000 after-sales changed in one window is far beyond a shop's half hour
SOURCE = "reconcile"
EXTENDED_TAG = "时效延长"  # an aftersale_tags entry: the platform extended the deadline (RESEARCH.md)

# The step that led to each status (the list shows where an after-sale is, not how it got there).
STEP_OF_STATUS: dict[str, PlatformStep] = {
    "6": PlatformStep.REQUESTED,
    "7": PlatformStep.RETURN_AGREED,
    "8": PlatformStep.RETURN_AGREED,  # re-send or repair agreed: the merchant ships next
    "11": PlatformStep.BUYER_RETURNED,
    "12": PlatformStep.REFUNDED,
    "13": PlatformStep.EXCHANGE_CONFIRMED,
    "14": PlatformStep.OTHER,  # the buyer received the exchanged item: nobody's move (status.py)
    "27": PlatformStep.REFUND_REFUSED,
    "28": PlatformStep.CLOSED,
    "29": PlatformStep.RETURN_REFUSED,
    "51": PlatformStep.CLOSED,
    "53": PlatformStep.CLOSED,
}


def list_param(since: datetime, until: datetime, page: int) -> dict[str, Any]:
    return {
        "update_start_time": int(since.timestamp()),
        "update_end_time": int(until.timestamp()),
        "page": page,
        "size": PAGE_SIZE,
        "order_by": ["update_time asc"],
    }


def from_list_item(item: Any, now: datetime) -> PlatformEvent:
    """One listed after-sale as the event of its status, under a message id of its own per status
    and change (`reconcile:<id>:<status>:<update_time>`): a snapshot seen twice is recorded once."""
    info = item.get("aftersale_info") if isinstance(item, dict) else None
    if not isinstance(info, dict):
        raise MessageRejected("aftersale_info", "missing")
    order = item.get("order_info") if isinstance(item.get("order_info"), dict) else {}
    lines = [line for line in order.get("related_order_info") or [] if isinstance(line, dict)]
    after_sale_id = _text(info.get("aftersale_id"))
    status = _text(info.get("aftersale_status"))
    if not after_sale_id or not status:
        raise MessageRejected(
            "aftersale_info.aftersale_id" if not after_sale_id else "aftersale_info.aftersale_status", "missing"
        )
    update_time = info.get("update_time")
    version = update_time if isinstance(update_time, int) and not isinstance(update_time, bool) else None
    kind_code = info.get("aftersale_type")
    tags = [t.get("tag_detail") for t in info.get("aftersale_tags") or [] if isinstance(t, dict)]
    kept = {
        k: info[k]
        for k in ("aftersale_status", "aftersale_type", "refund_amount", "status_deadline", "update_time", "apply_time")
        if isinstance(info.get(k), int | str)
    }
    try:
        return PlatformEvent(
            platform=Platform.DOUYIN,
            message_id=f"{SOURCE}:{after_sale_id}:{status}:{version or 0}",
            topic=f"{SOURCE}:doudian_aftersale_status_{status}"[:64],
            step=STEP_OF_STATUS.get(status, PlatformStep.OTHER),
            after_sale_id=after_sale_id,
            order_number=_text(order.get("shop_order_id")) or _text(info.get("related_id")),
            sub_order=_text(lines[0].get("sku_order_id")) if lines else None,
            kind=KINDS.get(kind_code) if isinstance(kind_code, int) else None,
            status=status,
            amount=_cents(info.get("refund_amount")),
            shipping_amount=_cents(info.get("refund_post_amount")),
            deadline=_instant(info.get("status_deadline")),
            extended=EXTENDED_TAG in tags,
            occurred_at=_instant(update_time) or _instant(info.get("apply_time")) or now,
            version=version,
            whose=whose_move(status),
            data=kept,
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise MessageRejected(".".join(str(part) for part in first["loc"]), first["msg"]) from None


def read_list_page(answer: dict[str, Any]) -> tuple[list[Any], bool]:
    """The page's items and whether more follow."""
    data = answer.get("data") or {}
    items = data.get("items") if isinstance(data, dict) else None
    return (items if isinstance(items, list) else []), bool(isinstance(data, dict) and data.get("has_more"))
