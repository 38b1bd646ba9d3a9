"""Douyin Shop after-sale statuses mapped to our stages, as data: the README's table is this
table (tests/channels/test_douyin_parsing.py keeps them equal).

Codes: `aftersale_status` as the message push and afterSale/Detail send it ("6-售后申请；
7-售后退货中；8-售后待商家发货；11-售后已发货；12-售后成功；13-待用户收货；14-用户已收货；
27-拒绝售后申请；28-售后失败；29-售后退货拒绝；51-订单取消成功；53-逆向交易已完成",
zsmhub/doudian-sdk api/afterSale_Detail/response/afterSale_Detail_response.go; the list API's
`standard_aftersale_status` uses the same numbers for these states, api/afterSale_List/).
`whose` says whose move the status waits for: only the merchant's runs our `platform` clock.
"""

from __future__ import annotations

from typing import NamedTuple

from domain.case import Stage
from domain.marketplace import Whose


class StatusRow(NamedTuple):
    code: str
    zh: str
    en: str
    whose: Whose
    stages: tuple[Stage, ...]  # where our case normally stands meanwhile
    our_step: str  # what our case does about it


STATUSES: tuple[StatusRow, ...] = (
    StatusRow("6", "售后申请（待商家处理）", "applied, waiting for the merchant", Whose.MERCHANT,
              (Stage.RECEIVED, Stage.TRIAGED, Stage.IN_HANDLING), "decide: approve the refund, authorise the return or refuse"),
    StatusRow("7", "售后退货中（待买家退货）", "return authorised, waiting for the buyer's parcel", Whose.BUYER,
              (Stage.EXECUTING,), "wait for the parcel"),
    StatusRow("8", "售后待商家发货", "re-send or repair: waiting for the merchant's shipment", Whose.MERCHANT,
              (Stage.EXECUTING,), "ship the item"),
    StatusRow("11", "售后已发货（待商家确认收货）", "the buyer shipped the goods back", Whose.MERCHANT,
              (Stage.EXECUTING,), "confirm receipt and refund, or refuse"),
    StatusRow("12", "售后成功", "after-sale succeeded (refunded)", Whose.NOBODY,
              (Stage.EXECUTING, Stage.AWAITING_FEEDBACK), "tell the customer the result"),
    StatusRow("13", "换货/补寄/维修待用户收货", "shipped to the buyer, waiting for receipt", Whose.BUYER,
              (Stage.EXECUTING,), "wait for the buyer"),
    StatusRow("14", "换货/补寄/维修用户已收货", "the buyer received the item", Whose.NOBODY,
              (Stage.AWAITING_FEEDBACK,), "tell the customer the result"),
    StatusRow("27", "拒绝售后申请", "the merchant refused the application", Whose.BUYER,
              (Stage.IN_HANDLING, Stage.CLOSED), "wait: the buyer may apply again or ask for arbitration"),
    StatusRow("28", "售后失败", "after-sale failed or closed", Whose.NOBODY,
              (Stage.CLOSED, Stage.WITHDRAWN), "close the case"),
    StatusRow("29", "售后退货拒绝", "the merchant refused the returned goods", Whose.BUYER,
              (Stage.IN_HANDLING,), "wait: the buyer may ask for arbitration"),
    StatusRow("51", "订单取消成功", "order cancelled", Whose.NOBODY, (Stage.CLOSED,), "close the case"),
    StatusRow("53", "逆向交易已完成", "reverse transaction completed", Whose.NOBODY, (Stage.CLOSED,), "close the case"),
)  # fmt: skip

BY_CODE = {row.code: row for row in STATUSES}


def whose_move(status: str | None) -> Whose:
    """An unknown status is taken as the merchant's move: a deadline is never dropped silently."""
    row = BY_CODE.get(status or "")
    return row.whose if row is not None else Whose.MERCHANT


def markdown_table() -> str:
    """The README's table."""
    lines = [
        "| Douyin `aftersale_status` | 抖店状态 | meaning | whose move | our stage | our next step |",
        "|---|---|---|---|---|---|",
    ]
    for row in STATUSES:
        stages = ", ".join(f"`{s.value}`" for s in row.stages)
        lines.append(f"| {row.code} | {row.zh} | {row.en} | {row.whose.value} | {stages} | {row.our_step} |")
    return "\n".join(lines)
