"""Notification delivery: the outbox dispatcher sends real cases' notifications through
the webhook adapter to a real local HTTP receiver, signed; retries with backoff; gives
up as `failed`; and never holds a case up. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import sysconfig
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from delivery.notify import LogNotifier, OutboxDispatcher, RetrySchedule, WebhookNotifier
from store.db import session_factory
from store.outbox import OutboxStore
from tests.conftest import Database
from tests.support.api import drive_to_feedback, post
from tests.support.devrun import free_port
from tests.support.outbox import FAST, dispatching, park_other_cases, row, with_status
from tests.support.people import AGENT, SUPERVISOR, TRIAGE, intake
from tests.support.receiver import eventually, receiver

SECRET = "test-webhook-secret"


def key(number: str, recipient: str, topic: str, seq: int = 1) -> str:
    return f"{number}:{seq}:{recipient}:{topic}"


async def test_a_cases_acknowledgement_reaches_the_webhook_signed(api: httpx.AsyncClient, database: Database) -> None:
    case = await post(api, "/cases", intake(), AGENT)
    number = case["number"]
    async with receiver() as hook, dispatching(database, WebhookNotifier(hook.url, SECRET), number):
        await eventually(
            lambda: hook.with_key(key(number, "customer", "acknowledgement")), what="acknowledgement POSTed"
        )
        ack = await eventually(lambda: _delivered(database, number, "acknowledgement"), what="row delivered")

    (request,) = hook.with_key(key(number, "customer", "acknowledgement"))
    # The signature verifies: HMAC-SHA256 with the shared secret over "<timestamp>.<body>".
    timestamp = request.headers["x-aftersales-timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-aftersales-signature"] == f"sha256={expected}"
    assert abs(time.time() - int(timestamp)) < 60
    wrong = hmac.new(b"another secret", timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-aftersales-signature"] != f"sha256={wrong}"
    payload = json.loads(request.body)
    assert (payload["case_number"], payload["recipient"], payload["topic"], payload["seq"]) == (
        number, "customer", "acknowledgement", 1
    )  # fmt: skip
    assert payload["body"] == {"number": number}
    # Recipients are roles: the customer's name and phone never leave in a notification.
    assert "张三丰" not in request.body.decode() and "0013 8000" not in request.body.decode()
    assert (ack.status, ack.attempts, ack.last_error) == ("delivered", 1, None)
    assert ack.sent_at is not None


async def _delivered(database: Database, number: str, topic: str):  # noqa: ANN202
    found = await row(database, number, topic)
    return found if found is not None and found.status == "delivered" else None


async def test_a_receiver_failing_twice_gets_the_notification_once_after_retries(
    api: httpx.AsyncClient, database: Database
) -> None:
    case = await post(api, "/cases", intake(), AGENT)
    number = case["number"]
    flaky = key(number, "customer", "acknowledgement")
    async with receiver() as hook:
        hook.respond = lambda body, seen: (500, {}) if body["id"] == flaky and seen < 2 else (200, {})
        # Two dispatchers, as with two worker processes: each row is still sent by one at a time.
        async with (
            dispatching(database, WebhookNotifier(hook.url, SECRET), number),
            dispatching(database, WebhookNotifier(hook.url, SECRET), number),
        ):
            delivered = await eventually(lambda: _delivered(database, number, "acknowledgement"), what="delivered")
            await eventually(lambda: _delivered(database, number, "new_case"), what="agent notified")
    attempts = hook.with_key(flaky)
    assert [r.status for r in attempts] == [500, 500, 200]
    assert (delivered.status, delivered.attempts, delivered.last_error) == ("delivered", 3, None)
    # Every attempt carried the same idempotency key; the other notification went once.
    assert [r.status for r in hook.with_key(key(number, "agent", "new_case"))] == [200]
    delivered_rows = [o for o in await database.store.outbox(number) if o.topic == "acknowledgement"]
    assert [o.status for o in delivered_rows] == ["delivered"]


async def test_a_receiver_that_is_down_ends_failed_and_the_case_goes_on(
    api: httpx.AsyncClient, database: Database
) -> None:
    case = await post(api, "/cases", intake(), AGENT)
    number = case["number"]
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    async with dispatching(database, WebhookNotifier(down, SECRET, timeout=2), number):
        failed = await eventually(
            lambda: with_status(database, number, "acknowledgement", "failed"), what="acknowledgement failed"
        )
        # Meanwhile the case moves on through triage, handling, approval and execution.
        triaged = await post(api, f"/cases/{number}/triage", TRIAGE, AGENT)
        assert triaged["stage"] == "triaged"
        await drive_to_feedback(api, number)
    assert (failed.status, failed.attempts) == ("failed", FAST.max_attempts)
    assert "ConnectError" in failed.last_error
    assert failed.sent_at is None
    # Operators see it: GET /ops/notifications lists the notifications given up on.
    listed = await api.get("/ops/notifications", params={"status": "failed", "limit": 500}, headers=SUPERVISOR)
    assert listed.status_code == 200, listed.text
    (shown,) = [n for n in listed.json() if n["id"] == failed.id]
    assert (shown["case_number"], shown["topic"], shown["attempts"]) == (number, "acknowledgement", FAST.max_attempts)
    assert "ConnectError" in shown["last_error"]
    assert (await api.get("/ops/notifications", headers=AGENT)).status_code == 403
    assert (await database.store.get_case(number)).stage == "awaiting_feedback"


async def test_the_log_adapter_names_topic_recipient_and_case_but_no_personal_data(
    api: httpx.AsyncClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    case = await post(api, "/cases", intake(), AGENT)
    number = case["number"]
    with caplog.at_level(logging.INFO, logger="aftersales.notifications"):
        async with dispatching(database, LogNotifier(), number):
            await eventually(lambda: _delivered(database, number, "acknowledgement"), what="logged")
    lines = [
        r.getMessage() for r in caplog.records if r.name == "aftersales.notifications" and number in r.getMessage()
    ]
    assert f"notify customer: acknowledgement for case {number} (#1)" in lines
    assert not any("张三丰" in line or "0013 8000" in line for line in lines)


def test_backoff_doubles_up_to_the_ceiling() -> None:
    schedule = RetrySchedule(max_attempts=8, base=timedelta(seconds=5), ceiling=timedelta(minutes=1))
    assert [schedule.delay(n).total_seconds() for n in range(1, 6)] == [5, 10, 20, 40, 60]


async def test_aftersales_dispatcher_delivers_the_outbox_as_a_process_of_its_own(
    api: httpx.AsyncClient, database: Database
) -> None:
    """deploy/k8s runs the dispatcher as its own Deployment (`aftersales dispatcher`, no Temporal needed)."""
    case = await post(api, "/cases", intake(), AGENT)
    number = case["number"]
    await park_other_cases(database, number)
    env = os.environ | {
        "DATABASE_URL": database.url,
        "NOTIFY_ADAPTER": "webhook",
        "NOTIFY_WEBHOOK_SECRET": SECRET,
        "NOTIFY_POLL_SECONDS": "0.1",
        "TEMPORAL_ADDRESS": "127.0.0.1:9",  # nothing there: the dispatcher must not need it
    }
    async with receiver() as hook:
        env["NOTIFY_WEBHOOK_URL"] = hook.url
        process = await asyncio.create_subprocess_exec(
            str(Path(sysconfig.get_path("scripts")) / "aftersales"), "dispatcher", env=env
        )
        try:
            await eventually(lambda: hook.with_key(key(number, "customer", "acknowledgement")), what="POSTed")
            ack = await eventually(lambda: _delivered(database, number, "acknowledgement"), what="row delivered")
        finally:
            process.terminate()
            await process.wait()
    assert (ack.status, ack.attempts) == ("delivered", 1)


class _SwallowsTheCancel:
    """An adapter that loses the cancel, as `asyncio.wait_for` before Python 3.12 does when the
    SMTP reply lands in the same loop turn (aiosmtplib waits for every reply that way)."""

    def __init__(self) -> None:
        self.busy = asyncio.Event()
        self.calls = 0

    async def deliver(self, notification: object) -> None:
        self.calls += 1
        self.busy.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            return  # swallowed: the delivery "completed"


async def test_the_dispatcher_stops_when_cancelled_even_if_the_adapter_swallowed_the_cancel(
    api: httpx.AsyncClient, database: Database
) -> None:
    case = await post(api, "/cases", intake(), AGENT)
    number = case["number"]
    await park_other_cases(database, number)
    adapter = _SwallowsTheCancel()
    dispatcher = OutboxDispatcher(OutboxStore(session_factory(database.engine)), adapter, FAST, poll_interval=0.05)
    task = asyncio.create_task(dispatcher.run())
    await asyncio.wait_for(adapter.busy.wait(), timeout=15)
    task.cancel()
    # Without the check it would go on delivering for ever, and a worker would never shut down.
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert adapter.calls == 1
