"""Reading Douyin Shop's after-sale list (afterSale/List) for reconciliation, against the
documented request and answer (channels/douyin/listing.py cites them); the platform answers
through an HTTP transport of its own making."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from channels.base import MessageRejected
from channels.douyin.adapter import DouyinAdapter, PlatformUnavailable
from channels.douyin.listing import from_list_item
from domain.marketplace import AfterSaleKind, PlatformStep, Whose, case_intake

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def item(after_sale_id: str = "7301234567890123456", status: int = 6, **info: Any) -> dict[str, Any]:
    return {
        "aftersale_info": {
            "aftersale_id": after_sale_id, "aftersale_type": 0, "aftersale_status": status,
            "related_id": "6930000000000000002", "apply_time": 1764561600, "update_time": 1764561900,
            "status_deadline": 1764648000, "refund_amount": 45900, "refund_post_amount": 800,
            "aftersale_tags": [{"tag_detail": "时效延长"}], "return_logistics_code": "SF123",
        } | info,
        "order_info": {"shop_order_id": "6930000000000000001", "related_order_info": [{"sku_order_id": "6930000000000000002"}]},
        "text_part": {"aftersale_status_text": "待商家处理"},
    }  # fmt: skip


def test_a_listed_after_sale_is_the_event_of_its_status_and_can_open_its_case() -> None:
    event = from_list_item(item(), NOW)
    assert (event.after_sale_id, event.status, event.step, event.whose) == (
        "7301234567890123456", "6", PlatformStep.REQUESTED, Whose.MERCHANT,
    )  # fmt: skip
    assert (event.order_number, event.sub_order, event.kind) == (
        "6930000000000000001", "6930000000000000002", AfterSaleKind.RETURN_AND_REFUND,
    )  # fmt: skip
    assert (event.amount, event.shipping_amount) == (Decimal("459.00"), Decimal("8.00"))
    assert event.deadline == datetime.fromtimestamp(1764648000, UTC) and event.extended
    assert event.occurred_at == datetime.fromtimestamp(1764561900, UTC) and event.version == 1764561900
    # One id per status and change: the same snapshot in two overlapping windows is recorded once.
    assert event.message_id == "reconcile:7301234567890123456:6:1764561900"
    assert "return_logistics_code" not in event.data  # ids, codes and instants only
    assert case_intake(event) is not None
    closed = from_list_item(item(status=28, status_deadline=0), NOW)
    assert (closed.step, closed.whose, closed.deadline) == (PlatformStep.CLOSED, Whose.NOBODY, None)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"order_info": {}}, "aftersale_info"),
        (item(aftersale_id=None), "aftersale_info.aftersale_id"),
        (item(aftersale_status=None), "aftersale_info.aftersale_status"),
        (item(after_sale_id="7 or 1"), "after_sale_id"),
    ],
)
def test_an_unreadable_item_names_its_field(bad: dict[str, Any], field: str) -> None:
    with pytest.raises(MessageRejected) as refused:
        from_list_item(bad, NOW)
    assert refused.value.field == field


def platform(pages: list[dict[str, Any]], seen: list[dict[str, Any]]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/afterSale/List" and request.url.params["method"] == "afterSale.List"
        param = json.loads(request.content)
        seen.append(param)
        return httpx.Response(200, json=pages[param["page"]])

    return httpx.MockTransport(answer)


async def test_the_adapter_reads_every_page_of_the_window_and_skips_what_it_cannot_read() -> None:
    pages = [
        {"code": 10000, "data": {"items": [item("7001"), {"aftersale_info": {}}], "has_more": True, "page": 0}},
        {"code": 10000, "data": {"items": [item("7002", status=12)], "has_more": False, "page": 1}},
    ]
    seen: list[dict[str, Any]] = []
    adapter = DouyinAdapter("key", "secret", "http://douyin.test", transport=platform(pages, seen))
    until = datetime.now(UTC).replace(microsecond=0)
    listed = await adapter.changed_after_sales(until - timedelta(minutes=30), until)
    assert [(e.after_sale_id, e.step) for e in listed] == [
        ("7001", PlatformStep.REQUESTED),
        ("7002", PlatformStep.REFUNDED),
    ]
    assert [p["page"] for p in seen] == [0, 1] and {p["size"] for p in seen} == {100}
    assert seen[0]["update_start_time"] == int(until.timestamp()) - 1800
    assert seen[0]["update_end_time"] == int(until.timestamp())


async def test_a_list_the_platform_refuses_to_give_is_an_outage_the_run_retries() -> None:
    pages = [{"code": 50002, "msg": "业务处理失败", "sub_code": "isp.service-busy"}]
    adapter = DouyinAdapter("key", "secret", "http://douyin.test", transport=platform(pages, []))
    with pytest.raises(PlatformUnavailable, match=r"afterSale\.List answered 50002"):
        await adapter.changed_after_sales(NOW - timedelta(minutes=30), NOW)
