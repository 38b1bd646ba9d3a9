"""Douyin Shop after-sales end to end: a fake platform signs and pushes messages to the real
API over HTTP, the real worker runs the cases on the real dev server, and the fake records
the decision calls the cases make."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from channels.douyin.adapter import DouyinAdapter
from channels.douyin.signature import push_signature
from services.channel_intake import ChannelIntake
from tests.channels.conftest import Marketplace
from tests.support.api import post
from tests.support.douyin import APP_KEY, APP_SECRET, AfterSale, new_after_sale_id
from tests.support.people import AGENT, HANDLER, HEAD, LOGISTICS, PLAN, SUPERVISOR, TRIAGE, WAREHOUSE
from tests.support.receiver import eventually
from workflows.case import CaseWorkflow

RETURN_AND_REFUND, REFUND_AFTER_SHIPPING = 0, 1


def sale(kind: int = REFUND_AFTER_SHIPPING, amount_cents: int = 12990) -> AfterSale:
    after_sale_id = new_after_sale_id()
    return AfterSale(
        after_sale_id,
        order="6" + after_sale_id[1:],
        sub_order="5" + after_sale_id[1:],
        kind=kind,
        amount_cents=amount_cents,
    )


def to_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


async def detail(market: Marketplace, number: str) -> dict[str, Any]:
    response = await market.api.get(f"/cases/{number}", headers=AGENT)
    assert response.status_code == 200, response.text
    return response.json()


def platform_clock(case: dict[str, Any]) -> dict[str, Any]:
    (clock,) = [c for c in case["sla"]["clocks"] if c["name"] == "platform"]
    return clock


def get_intake_of(market: Marketplace) -> ChannelIntake:
    return market.intake


async def _state_is(market: Marketplace, after_sale_id: str, *states: str) -> bool:
    return [m["state"] for m in await market.channels.messages("douyin", after_sale_id)] == list(states)


async def decide(market: Marketplace, number: str, kind: str, **extra: Any) -> dict[str, Any]:
    response = await market.api.post(
        f"/cases/{number}/platform-decisions", json={"kind": kind, **extra}, headers=SUPERVISOR
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_refund_goes_from_the_push_to_refund_success(douyin: Marketplace, env: WorkflowEnvironment) -> None:
    market, fake = douyin, douyin.fake
    refund = sale()
    deadline = to_second(datetime.now(UTC) + timedelta(hours=24))
    response = await fake.push(fake.apply(refund, datetime.now(UTC), deadline))
    # The platform's answer, well within its 3 seconds.
    assert (response.status_code, response.json()) == (200, {"code": 0, "msg": "success"})
    assert fake.push_seconds[-1] < 3

    number = await market.case_of(refund.after_sale_id)
    await market.wait_events(number, "platform_message")
    case = await detail(market, number)
    live = case["live"]
    assert live["intake"]["channel"] == "marketplace"
    assert live["intake"]["order"] == {**live["intake"]["order"], "number": refund.order, "paid_amount": "129.90"}
    assert live["intake"]["demands"] == ["refund"]
    assert live["platform"]["after_sale_id"] == refund.after_sale_id and live["platform"]["status"] == "6"
    # The platform clock runs to the platform's own deadline (from afterSale/Detail), not to hours of ours.
    clock = platform_clock(case)
    assert datetime.fromisoformat(clock["due_at"]) == deadline
    assert clock["state"] == "running"
    # Its target is the platform's instant, not a budget of ours (which would read "23.9993 h calendar time").
    local = deadline.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert clock["target"] == f"由平台设定，截至 {local} / set by the platform, due {local} (Asia/Shanghai)"
    # Searchable by the after-sale: in Temporal (a search attribute) and in the record.
    found = [w.id async for w in env.client.list_workflows(f'PlatformAfterSale = "douyin:{refund.after_sale_id}"')]
    assert found == [number]
    looked_up = await market.api.get(f"/channels/douyin/after-sales/{refund.after_sale_id}", headers=AGENT)
    assert looked_up.json() == {"platform": "douyin", "after_sale_id": refund.after_sale_id, "case_number": number}
    unknown = await market.api.get("/channels/douyin/after-sales/1", headers=AGENT)
    assert (unknown.status_code, unknown.json()["title"]) == (404, "After-sale not found")
    malformed = await market.api.get("/channels/douyin/after-sales/7%20or%201", headers=AGENT)
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "path.after_sale_id"
    # Operators read the after-sale and the platform's deadline in Temporal UI's current details.
    metadata = await env.client.get_workflow_handle(number).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    assert f"douyin after-sale {refund.after_sale_id}: status 6; platform deadline " in metadata.current_details

    await decide(market, number, "approve_refund")
    (call,) = fake.operates(refund.after_sale_id)
    assert call.signed and call.param["type"] == 201
    assert call.key is not None and call.key.startswith(f"{number}:approve_refund:")
    sent = (await market.wait_events(number, "platform_decision_sent"))[0]
    assert sent.data["summary"].startswith("已发送至平台 sent to the platform")
    # The platform's RefundAgreed and RefundSuccess confirm the step and stop its clock.
    confirmed = (await market.wait_events(number, "platform_decision_confirmed"))[0]
    assert confirmed.data["summary"].startswith("平台已确认 confirmed by the platform")
    await market.wait_events(number, "platform_message", 3)
    case = await detail(market, number)
    assert case["live"]["platform"]["step"] == "refunded"
    assert platform_clock(case)["state"] == "met"
    assert len(fake.operates(refund.after_sale_id)) == 1


async def test_a_return_with_the_buyers_shipment_and_our_receipt_confirmation(douyin: Marketplace) -> None:
    market, fake = douyin, douyin.fake
    goods = sale(RETURN_AND_REFUND, 45900)
    await fake.push(fake.apply(goods, datetime.now(UTC), datetime.now(UTC) + timedelta(hours=48)))
    number = await market.case_of(goods.after_sale_id)
    await market.wait_events(number, "platform_message")

    await decide(market, number, "authorise_return")
    assert [c.param["type"] for c in fake.operates(goods.after_sale_id)] == [101]
    await market.wait_events(number, "platform_decision_confirmed")
    # Now the buyer's move: our platform clock stops.
    assert platform_clock(await detail(market, number))["state"] == "met"

    # The buyer ships the parcel back; the platform gives us a new deadline to confirm receipt.
    confirm_by = to_second(datetime.now(UTC) + timedelta(hours=72))
    await fake.buyer_returns(goods, confirm_by)
    await market.wait_events(number, "platform_message", 3)
    case = await detail(market, number)
    assert case["live"]["platform"]["step"] == "buyer_returned"
    clock = platform_clock(case)
    assert (clock["state"], datetime.fromisoformat(clock["due_at"])) == ("running", confirm_by)

    await decide(market, number, "confirm_receipt")
    assert [c.param["type"] for c in fake.operates(goods.after_sale_id)] == [101, 111]
    await market.wait_events(number, "platform_decision_confirmed", 2)
    await market.wait_events(number, "platform_message", 5)  # ... RefundAgreed, RefundSuccess
    case = await detail(market, number)
    assert case["live"]["platform"]["step"] == "refunded"
    assert platform_clock(case)["state"] == "met"


async def test_a_bad_signature_is_refused_and_nothing_is_recorded(douyin: Marketplace) -> None:
    market, fake = douyin, douyin.fake
    forged = sale()
    response = await fake.push(
        fake.apply(forged, datetime.now(UTC), datetime.now(UTC) + timedelta(hours=24)), secret="wrong"
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "event-sign"
    assert await market.channels.messages("douyin", forged.after_sale_id) == []
    assert await market.channels.case_of("douyin", forged.after_sale_id) is None


async def test_a_redelivered_message_acts_once(douyin: Marketplace) -> None:
    market, fake = douyin, douyin.fake
    twice = sale()
    message = fake.apply(twice, datetime.now(UTC), datetime.now(UTC) + timedelta(hours=24))
    first = await fake.push(message)
    number = await market.case_of(twice.after_sale_id)
    await market.wait_events(number, "platform_message")
    again = await fake.push(message)  # the platform did not see our answer and sends it again
    both = await fake.push(message, message)  # or twice in one batch
    assert [r.status_code for r in (first, again, both)] == [200, 200, 200]
    assert len(await market.channels.messages("douyin", twice.after_sale_id)) == 1
    await market.wait_events(number, "platform_message")
    assert len(await market.events(number, "platform_message")) == 1
    assert len(await market.events(number, "received")) == 1


async def test_messages_out_of_order_are_held_and_reconciled(douyin: Marketplace) -> None:
    market, fake = douyin, douyin.fake
    # A RefundClosed before its RefundCreated: the later state wins, the earlier is recorded late.
    closed_first = sale()
    applied_at = datetime.now(UTC) - timedelta(minutes=10)
    created = fake.apply(closed_first, applied_at, datetime.now(UTC) + timedelta(hours=24))
    closed_first.status = 28
    closed = fake.message(207, closed_first, close_time=int(datetime.now(UTC).timestamp()))
    await fake.push(closed)
    number = await market.case_of(closed_first.after_sale_id)
    await market.wait_events(number, "platform_message")
    await fake.push(created)
    late = (await market.wait_events(number, "platform_message", 2))[1]
    assert late.data["late"] is True and late.data["step"] == "requested"
    case = await detail(market, number)
    assert case["live"]["platform"]["step"] == "closed"
    assert all(c["name"] != "platform" or c["state"] == "met" for c in case["sla"]["clocks"])
    await eventually(
        lambda: _state_is(market, closed_first.after_sale_id, "applied", "applied"), what="both messages applied"
    )
    topics = [m["topic"] for m in await market.channels.messages("douyin", closed_first.after_sale_id)]
    assert topics == ["doudian_refund_RefundClosed", "doudian_refund_RefundCreated"]

    # An ExpirationChange before the case can be opened (it carries no order or amount): held,
    # then applied after the RefundCreated that opens the case.
    held_first = sale()
    moved_to = to_second(datetime.now(UTC) + timedelta(hours=36))
    created = fake.apply(held_first, datetime.now(UTC), moved_to)
    expiration = fake.message(209, held_first, status_deadline=int(moved_to.timestamp()))
    await fake.push(expiration)
    await eventually(lambda: _state_is(market, held_first.after_sale_id, "held"), what="the ExpirationChange held")
    assert await market.channels.case_of("douyin", held_first.after_sale_id) is None
    await fake.push(created)
    number = await market.case_of(held_first.after_sale_id)
    await market.wait_events(number, "platform_message", 2)
    await eventually(
        lambda: _state_is(market, held_first.after_sale_id, "applied", "applied"), what="both messages applied"
    )
    assert datetime.fromisoformat(platform_clock(await detail(market, number))["due_at"]) == moved_to


async def test_expiration_change_moves_the_platform_clock_and_its_warnings(
    douyin: Marketplace, env: WorkflowEnvironment
) -> None:
    market, fake = douyin, douyin.fake
    timed = sale()
    start = datetime.now(UTC)
    first_deadline = to_second(start + timedelta(hours=4))
    await fake.push(fake.apply(timed, start, first_deadline))
    number = await market.case_of(timed.after_sale_id)
    await market.wait_events(number, "platform_message")
    case = await detail(market, number)
    began = datetime.fromisoformat(platform_clock(case)["started_at"])
    handle = env.client.get_workflow_handle_for(CaseWorkflow.run, number)

    # 75 % of the platform's window: the responsible role is warned.
    await env.fast_forward(handle, first_deadline - began - (first_deadline - began) / 4 + timedelta(minutes=1))
    warnings = await market.wait_events(number, "sla_warning")
    platform_warnings = [w for w in await market.events(number, "sla_warning") if w.data["clock"] == "platform"]
    assert [w.data["fraction"] for w in platform_warnings] == [0.75]
    assert warnings

    # The platform extends the deadline: the clock is re-armed to it, shown as the platform's extension.
    now = (await handle.query(CaseWorkflow.state)).updated_at
    virtual_now = max(now, datetime.now(UTC) + (first_deadline - began) * 3 / 4)
    extended_to = to_second(virtual_now + timedelta(hours=8))
    await fake.push(fake.expiration_change(timed, extended_to))
    changed = (await market.wait_events(number, "platform_deadline_changed"))[0]
    assert changed.data["extended_by_platform"] is True
    assert changed.data["summary"].startswith("平台延长了时限 extended by the platform")
    case = await detail(market, number)
    clock = platform_clock(case)
    assert datetime.fromisoformat(clock["due_at"]) == extended_to
    assert (clock["state"], clock["warnings_sent"], clock["extended_by_platform"]) == ("running", 0, True)
    assert case["live"]["platform"]["extended"] is True

    # The warnings count again from the new window: 75 %, then 90 %, then the breach climbs the ladder.
    rearmed = datetime.fromisoformat(clock["started_at"])
    window = extended_to - rearmed
    await env.fast_forward(handle, window * 3 / 4 + timedelta(minutes=1))
    await market.wait_events(number, "sla_warning", len(warnings) + 1)
    await env.fast_forward(handle, window * 15 / 100)
    await env.fast_forward(handle, window / 10 + timedelta(minutes=1))
    breaches = [b for b in await market.wait_events(number, "sla_breached") if b.data["clock"] == "platform"]
    platform_warnings = [w for w in await market.events(number, "sla_warning") if w.data["clock"] == "platform"]
    assert [w.data["fraction"] for w in platform_warnings] == [0.75, 0.75, 0.9]
    assert len(breaches) == 1 and breaches[0].data["escalated_to"] == "supervisor"


async def test_a_decision_the_platform_refuses_becomes_a_task(douyin: Marketplace) -> None:
    market, fake = douyin, douyin.fake
    refused = sale()
    await fake.push(fake.apply(refused, datetime.now(UTC), datetime.now(UTC) + timedelta(hours=24)))
    number = await market.case_of(refused.after_sale_id)
    await market.wait_events(number, "platform_message")
    fake.refuse[refused.after_sale_id] = (
        "isv.business-failed:aftersale_status_changed",
        "售后单状态已变更，请刷新后重试",
    )

    view = await decide(market, number, "refuse", reason="商品已签收且无质量问题")
    assert "supervisor" in view["waiting_for"]
    (event,) = await market.events(number, "platform_decision_refused")
    assert event.data["platform_message"] == "售后单状态已变更，请刷新后重试"
    assert event.data["summary"].startswith("平台拒绝 refused by the platform")
    case = await detail(market, number)
    assert case["live"]["platform"]["task"]["platform_message"] == "售后单状态已变更，请刷新后重试"
    assert (await market.events(number, "platform_decision_sent")) == []

    # A person takes it up: the next decision goes through and closes the task.
    await decide(market, number, "approve_refund")
    case = await detail(market, number)
    assert case["live"]["platform"]["task"] is None
    assert [c.param["type"] for c in fake.operates(refused.after_sale_id)] == [202, 201]


async def test_a_refusal_needs_its_reason(douyin: Marketplace) -> None:
    market, fake = douyin, douyin.fake
    quiet = sale()
    await fake.push(fake.apply(quiet, datetime.now(UTC), datetime.now(UTC) + timedelta(hours=24)))
    number = await market.case_of(quiet.after_sale_id)
    response = await market.api.post(f"/cases/{number}/platform-decisions", json={"kind": "refuse"}, headers=SUPERVISOR)
    assert response.status_code == 422
    assert "reason" in response.json()["detail"]
    assert fake.operates(quiet.after_sale_id) == []


async def test_an_approved_refund_plan_is_paid_through_the_platform(douyin: Marketplace) -> None:
    market, fake, api = douyin, douyin.fake, douyin.api
    planned = sale(amount_cents=8800)
    await fake.push(fake.apply(planned, datetime.now(UTC), datetime.now(UTC) + timedelta(hours=24)))
    number = await market.case_of(planned.after_sale_id)
    await market.wait_events(number, "platform_message")
    await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    refund = {"type": "refund", "amount": "88.00", "currency": "CNY"}
    await post(api, f"/cases/{number}/plan", PLAN | {"resolution": refund}, HANDLER)
    await post(api, f"/cases/{number}/approve", {"comment": "同意 ok"}, HEAD)

    # The platform pays the buyer: the case agrees on the platform instead of paying on our routes.
    executed = (await market.wait_events(number, "resolution_executed"))[0]
    assert [c.param["type"] for c in fake.operates(planned.after_sale_id)] == [201]
    assert (await market.wait_events(number, "platform_decision_sent"))[0].actor_role == "system"
    await market.wait_events(number, "platform_decision_confirmed")
    assert executed.stage == "awaiting_feedback"
    assert "douyin" in str(executed.data)


async def test_a_message_recorded_but_not_applied_is_finished_by_the_sweep(douyin: Marketplace) -> None:
    # The API stopped after answering the platform: the message is on record, no case acted on it.
    market, fake = douyin, douyin.fake
    stranded = sale()
    message = fake.apply(stranded, datetime.now(UTC), datetime.now(UTC) + timedelta(hours=24))
    (event,) = DouyinAdapter(APP_KEY, APP_SECRET, fake.api_url).parse(json.dumps([message]).encode())
    intake = get_intake_of(market)
    assert (await intake.record(event)).applied is False
    assert await market.channels.case_of("douyin", stranded.after_sale_id) is None

    assert await intake.act_on_unapplied() >= 1
    number = await market.case_of(stranded.after_sale_id)
    assert await _state_is(market, stranded.after_sale_id, "applied")
    # What operators read in Temporal UI names the after-sale and its platform deadline.
    details = (await market.wait_events(number, "platform_message"))[0]
    assert details.data["topic"] == "doudian_refund_RefundCreated"
    again = await intake.take_event(event)  # the platform's redelivery after all
    assert (again.duplicate, again.applied, again.case_number) == (True, True, number)


async def test_an_approved_return_plan_is_authorised_and_settled_on_the_platform(douyin: Marketplace) -> None:
    market, fake, api = douyin, douyin.fake, douyin.api
    goods = sale(RETURN_AND_REFUND, 45900)
    await fake.push(fake.apply(goods, datetime.now(UTC), datetime.now(UTC) + timedelta(hours=48)))
    number = await market.case_of(goods.after_sale_id)
    await market.wait_events(number, "platform_message")
    await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    back = {"type": "return", "amount": "459.00", "currency": "CNY", "detail": "the buyer sends it back"}
    await post(api, f"/cases/{number}/plan", PLAN | {"resolution": back}, HANDLER)
    await post(api, f"/cases/{number}/approve", {"comment": "同意退货 ok"}, HEAD)

    # Authorised on the platform first, then our return steps begin.
    await market.wait_events(number, "return_authorised")
    assert [c.param["type"] for c in fake.operates(goods.after_sale_id)] == [101]
    await market.wait_events(number, "platform_decision_confirmed")
    await fake.buyer_returns(goods, datetime.now(UTC) + timedelta(hours=72))
    await market.wait_events(number, "platform_message", 3)

    await post(api, f"/cases/{number}/return-steps/pickup_booked", {"tracking_number": "SF1234567890"}, LOGISTICS)
    await post(api, f"/cases/{number}/return-steps/parcel_received", None, WAREHOUSE)
    await post(api, f"/cases/{number}/return-steps/quality_checked", {"passed": True, "note": "unused"}, WAREHOUSE)
    await post(api, f"/cases/{number}/return-steps/restocked", None, WAREHOUSE)

    # The refund that settles the return is the platform's receipt confirmation, paid by the platform.
    await market.wait_events(number, "resolution_executed")
    assert [c.param["type"] for c in fake.operates(goods.after_sale_id)] == [101, 111]
    await market.wait_events(number, "platform_decision_confirmed", 2)


async def test_a_signed_push_we_cannot_read_is_refused_naming_the_field(douyin: Marketplace) -> None:
    market = douyin
    body = b'[{"tag": "200", "msg_id": "m-bad", "data": "{\\"p_id\\": 1}"}]'
    response = await market.api.post(
        "/channels/douyin/events", content=body, headers={"event-sign": push_signature(APP_KEY, body, APP_SECRET)}
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "body[0].data.aftersale_id", "message": "missing"}]
