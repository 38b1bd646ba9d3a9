"""POST /ops/notifications/{id}/retry: a notification the dispatcher gave up on goes back to the
queue once, and is then delivered by the real dispatcher to a real receiver. SQLite and PostgreSQL."""

from __future__ import annotations

import httpx

from delivery.notify import WebhookNotifier
from tests.conftest import Database
from tests.support.api import post
from tests.support.devrun import free_port
from tests.support.outbox import dispatching, with_status
from tests.support.people import AGENT, HEAD, SUPERVISOR, intake
from tests.support.receiver import eventually, receiver

SECRET = "test-webhook-secret"


async def test_a_failed_notification_is_sent_again_once(api: httpx.AsyncClient, database: Database) -> None:
    number = (await post(api, "/cases", intake(), AGENT))["number"]
    down = f"http://127.0.0.1:{free_port()}/hook"
    async with dispatching(database, WebhookNotifier(down, SECRET, timeout=2), number):
        failed = await eventually(
            lambda: with_status(database, number, "acknowledgement", "failed"), what="acknowledgement failed"
        )
    path = f"/ops/notifications/{failed.id}/retry"

    assert (await api.post(path, headers=AGENT)).status_code == 403
    retried = await api.post(path, headers=SUPERVISOR)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("pending", 0)
    # A second click acts no more: the row is no longer failed.
    again = await api.post(path, headers=HEAD)
    assert again.status_code == 409, again.text
    assert again.json()["detail"] == f"notification {failed.id} is pending: only a failed one is sent again"

    async with receiver() as hook, dispatching(database, WebhookNotifier(hook.url, SECRET), number):
        delivered = await eventually(
            lambda: with_status(database, number, "acknowledgement", "delivered"), what="delivered after the retry"
        )
    assert delivered.id == failed.id and delivered.attempts == 1
    assert len(hook.with_key(f"{number}:1:customer:acknowledgement")) == 1
    assert (await api.post(path, headers=SUPERVISOR)).json()["status_now"] == "delivered"
    missing = await api.post("/ops/notifications/2147483647/retry", headers=SUPERVISOR)
    assert missing.status_code == 404
    zero = await api.post("/ops/notifications/0/retry", headers=SUPERVISOR)
    assert zero.json()["errors"][0]["field"] == "path.notification_id"
