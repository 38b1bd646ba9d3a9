"""Leak check: 100 cases with canary names, phones and e-mails, opened concurrently through the
real API with payload encryption on, leave no plaintext in logs (every logger at DEBUG,
temporalio included), workflow ids, search attributes, memo, summary, details, lists,
reports or exported histories."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.action_signing import ActionSigner
from core.codec import EncryptionCodec, data_converter, new_key
from core.settings import Settings
from store.db import session_factory
from tests.conftest import Database
from tests.support.databases import own_database
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, SUPERVISOR, TRIAGE, intake
from tests.support.waiting import wait_for_stage
from tests.support.workers import in_process_worker

CASES = 100
CONCURRENCY = 25  # in flight at once: enough to interleave, not so many that a loaded CI box times out
NOTED_EVERY = 5
RETRIES_AFTER_503 = 10
KEYS = f"leak1:{new_key()}"


@dataclasses.dataclass
class Canary:
    name: str
    phone: str
    email: str

    @property
    def needles(self) -> list[str]:
        digits = "".join(c for c in self.phone if c.isdigit())
        # The masked forms keep a name's first character and a phone's last four digits: never more.
        return [self.name, self.name[1:], self.phone, digits, digits[:-4], self.email, self.email.split("@")[0]]


def canaries(count: int) -> list[Canary]:
    out = []
    for i in range(count):
        tag = secrets.token_hex(4)
        middle = f"{secrets.randbelow(10_000):04d}"
        out.append(Canary(f"Canary{tag}", f"+86 137 {middle} {i:04d}", f"canary.{tag}@example.com"))
    return out


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured_logs() -> Iterator[Captured]:
    """Every record of every logger at DEBUG, as a root handler sees it (after masking)."""
    root = logging.getLogger()
    handler, level = Captured(), root.level
    quiet = {
        name: logging.getLogger(name).level for name in ("temporalio", "httpx", "httpcore", "asyncio", "sqlalchemy")
    }
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, before in quiet.items():
            logging.getLogger(name).setLevel(before)


def hits(haystack: str, found: list[Canary]) -> list[str]:
    return sorted({needle for canary in found for needle in canary.needles if needle in haystack})


@dataclasses.dataclass
class Encrypted:
    api: httpx.AsyncClient
    client: Client
    codec: EncryptionCodec
    settings: Settings


@contextlib.asynccontextmanager
async def encrypted(
    env: WorkflowEnvironment, database: Database, tmp_path: Path, prefix: str
) -> AsyncIterator[Encrypted]:
    """The API and a worker with payload encryption on, on a database of their own."""
    settings_base = {"codec_keys": KEYS}
    codec = Settings(**settings_base).codec()
    assert codec is not None
    # A client of its own, encrypting, on the session's dev server: as `connect` builds it from the settings.
    client = Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=data_converter(codec),
        interceptors=[ActionSigner(Settings().action_keys()[0])],  # actions signed, as `connect` does
    )
    async with own_database(database, tmp_path, prefix=prefix + database.backend[0].upper()) as db:
        task_queue = f"{prefix.lower()}-{database.backend}"
        settings = Settings(task_queue=task_queue, database_url=db.url, case_number_prefix=db.prefix, **settings_base)
        app = create_app(settings, temporal=client, sessions=session_factory(db.engine))
        async with (
            in_process_worker(client, db.store, task_queue, max_concurrent_activities=20),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://aftersales.test", timeout=60
            ) as api,
        ):
            yield Encrypted(api, client, codec, settings)


async def send(api: httpx.AsyncClient, path: str, who: dict[str, str], body: Any = None) -> httpx.Response:
    """POST as the API tells a client to: a 503 (Temporal did not answer within the API's deadline,
    as on a loaded machine with 25 requests in flight) is sent again with the same Idempotency-Key,
    which acts once however often it is sent."""
    headers = who | {"Idempotency-Key": f"leak-{uuid.uuid4().hex}"}
    for _ in range(RETRIES_AFTER_503):
        response = await api.post(path, json=body, headers=headers)
        if response.status_code != 503:
            return response
        await asyncio.sleep(1)
    return response


async def test_canaries_leave_no_plaintext(
    env: WorkflowEnvironment, database: Database, tmp_path: Path, captured_logs: Captured
) -> None:
    started = time.monotonic()
    birds = canaries(CASES)
    async with encrypted(env, database, tmp_path, "LK") as stack:
        api, client, codec = stack.api, stack.client, stack.codec

        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(index: int, bird: Canary) -> str:
            async with gate:
                return await case(index, bird)

        async def case(index: int, bird: Canary) -> str:
            body = intake(
                customer={"name": bird.name, "phone": bird.phone, "email": bird.email, "tier": "vip"},
                description=f"{bird.name} says the kettle leaks; call {bird.phone} or {bird.email}",
            )
            opened = await send(api, "/cases", AGENT, body)
            assert opened.status_code == 201, opened.status_code
            number = opened.json()["number"]
            if index % NOTED_EVERY:
                return number
            # Every few cases, free text in updates' arguments too.
            assert (await send(api, f"/cases/{number}/triage", AGENT, TRIAGE)).status_code == 200
            assert (await send(api, f"/cases/{number}/accept", HANDLER)).status_code == 200
            note = {"text": f"Spoke to {bird.name} on {bird.phone}"}
            noted = await send(api, f"/cases/{number}/notes", HANDLER, note)
            assert noted.status_code == 200, noted.text
            return number

        numbers = await asyncio.gather(*(one(i, bird) for i, bird in enumerate(birds)))
        listed = await api.get("/cases", params={"limit": 100}, headers=AGENT)
        # The month the cases were received in, as their numbers say it (the clock may have
        # turned to the next month since, just after midnight at a month's end).
        day = numbers[0].split("-")[1]
        month = f"{day[:4]}-{day[4:6]}"
        report = await api.get("/reports/monthly", params={"month": month}, headers=SUPERVISOR)
        assert listed.status_code == 200 and listed.json()["total"] == CASES
        assert report.status_code == 200, report.text

        where: dict[str, str] = {
            "workflow ids": " ".join(numbers),
            "list": listed.text,
            "report": report.text,
        }
        histories, visible = [], []
        handles = [client.get_workflow_handle(n) for n in numbers]

        async def look(handle: Any) -> None:
            async with gate:
                await see(handle)

        async def see(handle: Any) -> None:
            description = await handle.describe()
            metadata = await handle.query("__temporal_workflow_metadata")
            visible.append(
                repr(
                    [
                        list(description.typed_search_attributes),
                        await description.memo(),
                        await description.static_summary(),
                        await description.static_details(),
                        metadata,  # current details, as Temporal UI shows them
                        str(description.raw_description),
                    ]
                )
            )
            histories.append((await handle.fetch_history()).to_json())

        await asyncio.gather(*(look(h) for h in handles))
        where["search attributes, memo, summary, details"] = "\n".join(visible)
        where["histories"] = "\n".join(histories)
        # A control: the data is in the history, only encrypted (the check could see it otherwise).
        first = (await handles[0].fetch_history()).events[0].workflow_execution_started_event_attributes.input
        assert birds[0].name.encode() in (await codec.decode(first.payloads))[0].data
        await asyncio.gather(*(h.terminate("leak check done") for h in handles))
    where["logs"] = "\n".join(captured_logs.lines)
    # The SDK's own DEBUG records were captured too, not just ours.
    assert any(line.startswith("temporalio.worker") and " DEBUG " in line for line in captured_logs.lines)
    leaks = {place: found for place, text in where.items() if (found := hits(text, birds))}
    leaking_lines = [line[:300] for line in captured_logs.lines if hits(line, birds)][:5]
    assert leaks == {}, ({place: found[:5] for place, found in leaks.items()}, leaking_lines)
    # The masked forms do show where the data is listed.
    assert "C" + "*" * (len(birds[0].name) - 1) in listed.text
    print(
        f"{CASES} cases on {database.backend}: {time.monotonic() - started:.1f} s, {len(captured_logs.lines)} log lines"
    )


async def test_a_case_run_to_its_archive_with_the_codec_on_keeps_no_plaintext_in_its_history(
    env: WorkflowEnvironment, database: Database, tmp_path: Path
) -> None:
    [bird] = canaries(1)
    async with encrypted(env, database, tmp_path, "CR") as stack:
        api = stack.api
        body = intake(
            customer={"name": bird.name, "phone": bird.phone, "email": bird.email},
            description=f"{bird.name} ({bird.phone}) reports a cracked base",
        )
        number = (await api.post("/cases", json=body, headers=AGENT)).json()["number"]
        for path, payload, who in [
            ("triage", TRIAGE, AGENT),
            ("accept", None, HANDLER),
            ("info-requests", {"question": f"{bird.name}, is {bird.email} still yours?"}, HANDLER),
            ("customer-replies", {"text": f"Yes, and call {bird.phone}"}, AGENT),
        ]:
            response = await api.post(f"/cases/{number}/{path}", json=payload, headers=who)
            assert response.status_code == 200, (path, response.text)
        # A refusal travels back as an encrypted failure; the API still reads and explains it.
        greedy = PLAN | {"root_cause": f"{bird.name} dropped it", "resolution": {"type": "refund", "amount": "5000.00"}}
        refused = await api.post(f"/cases/{number}/plan", json=greedy, headers=HANDLER)
        assert refused.status_code == 422 and "exceeds the 899.00 paid" in refused.json()["detail"]
        plan = PLAN | {"root_cause": f"Seal defect; {bird.name} informed"}
        assert (await api.post(f"/cases/{number}/plan", json=plan, headers=HANDLER)).status_code == 200
        assert (await api.post(f"/cases/{number}/approve", json={}, headers=HEAD)).status_code == 200
        await wait_for_stage(api, number, "awaiting_feedback", AGENT)
        told = {"channel": "phone", "summary": f"Told {bird.name} on {bird.phone}: refunded"}
        assert (await api.post(f"/cases/{number}/result-told", json=told, headers=AGENT)).status_code == 200
        feedback = {"score": 5, "comment": f"{bird.name} is happy"}
        assert (await api.post(f"/cases/{number}/feedback", json=feedback, headers=AGENT)).status_code == 200
        # A week later the fix check; its answer archives the case.
        handle = stack.client.get_workflow_handle(number)
        await env.fast_forward(handle, timedelta(days=7, minutes=1))
        deadline = time.monotonic() + 10
        while (await api.get(f"/cases/{number}", headers=AGENT)).json()["live"]["fix_check"]["status"] != "sent":
            assert time.monotonic() < deadline, "no fix check sent"
            await asyncio.sleep(0.05)
        answer = {"held": True, "comment": f"{bird.name} says it still works"}
        assert (await api.post(f"/cases/{number}/fix-check", json=answer, headers=AGENT)).status_code == 200
        await wait_for_stage(api, number, "archived", AGENT, source="record")

        assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
        history = (await handle.fetch_history()).to_json()
        assert hits(history, [bird]) == []
        # The whole record reached the database (decrypted by the worker), for the people handling the case.
        detail = (await api.get(f"/cases/{number}", headers=AGENT)).json()
        assert detail["record"]["customer"]["name"] == bird.name
