"""Helpers for the durability tests: a worker as its own OS process, a case lifecycle
driven through the API with retries, and the checks that nothing was lost or doubled."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.devrun import free_port
from tests.support.people import AGENT, HANDLER, HEAD, PLAN, TRIAGE, intake

# One case's life when nothing goes wrong, to a satisfied close: what the timeline must say,
# once each. (It archives a week later, after the fix check: tests/workflows/test_follow_up.py.)
LIFECYCLE = [
    "received", "triaged", "accepted", "plan_proposed", "plan_approved", "resolution_executed", "result_told", "closed",
]  # fmt: skip
RESULT_TOLD = {"channel": "phone", "summary": "Refunded in full", "follow_up": "We check back in a week"}


class WorkerProcess:
    """`python -m cli worker` (the `aftersales worker` command) against the given Temporal and database."""

    def __init__(self, *, address: str, namespace: str, task_queue: str, database_url: str, directory: Path) -> None:
        self.environment = os.environ | {
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": namespace,
            "TASK_QUEUE": task_queue,
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
        }
        self.directory = directory  # the working directory: no stray .env is read
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        log = open(self.directory / f"worker-{self.starts}.log", "wb")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"],
            env=self.environment,
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        self.starts += 1

    async def kill(self) -> None:
        """SIGKILL: no graceful shutdown, in-flight tasks and activities are simply lost."""
        assert self.process is not None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.kills += 1
        await asyncio.to_thread(self.process.wait)

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            await self.kill()


async def act(
    api: httpx.AsyncClient,
    path: str,
    body: Any,
    who: dict[str, str],
    key: str,
    timeout: float = 240,
    catching_up_from: str | None = None,
) -> dict[str, Any]:
    """POST an action with an Idempotency-Key, repeating it while the service is unavailable
    (worker down, database gone) or the first attempt is still in flight (409 "Request in
    progress", as the Idempotency-Key draft asks); the key makes a repeat act once.

    `catching_up_from`: a stage the live case may still report for a moment after a worker
    crash. Transitions are recorded by local activities, inside the workflow task: when the
    worker dies after the write but before the task completes, the record is one step ahead
    until a new worker re-runs that task, and the case answers 409 naming the old stage."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = await api.post(path, json=body, headers=who | {"Idempotency-Key": key})
        except httpx.TransportError:
            response = None  # the API itself was restarting
        if response is not None and response.status_code in (200, 201):
            return response.json()
        retryable = (
            response is None
            or response.status_code == 503
            or (response.status_code == 409 and response.json().get("title") == "Request in progress")
            or (
                response.status_code == 409
                and catching_up_from is not None
                and response.json().get("stage") == catching_up_from
            )
        )
        assert retryable, f"{path}: {response.status_code} {response.text}"
        assert time.monotonic() < deadline, f"{path}: still unavailable after {timeout}s"
        await asyncio.sleep(0.2)


async def wait_for_record(store: Any, number: str, stage: str, timeout: float = 240) -> None:
    """Bounded poll of the database record (no worker needed to read it)."""
    deadline = time.monotonic() + timeout
    seen = None
    while True:
        try:
            row = await store.get_case(number)
            seen = row.stage if row is not None else None
        except Exception:  # noqa: BLE001 - the database may be dropping connections right now
            seen = "unreadable"
        if seen == stage:
            return
        assert time.monotonic() < deadline, f"{number}: record stage {seen!r} after {timeout}s, expected {stage!r}"
        await asyncio.sleep(0.1)


async def run_lifecycle(api: httpx.AsyncClient, store: Any, tag: str, after_action: Any = None) -> str:
    """Receipt -> triage -> accept -> plan -> approve -> (execution) -> result told -> feedback -> closed."""

    async def step(
        path: str, body: Any, who: dict[str, str], name: str, catching_up_from: str | None = None
    ) -> dict[str, Any]:
        answer = await act(api, path, body, who, f"{tag}-{name}", catching_up_from=catching_up_from)
        if after_action is not None:
            await after_action()
        return answer

    number = (await step("/cases", intake(), AGENT, "open"))["number"]
    await step(f"/cases/{number}/triage", TRIAGE, AGENT, "triage")
    await step(f"/cases/{number}/accept", None, HANDLER, "accept")
    await step(f"/cases/{number}/plan", PLAN, HANDLER, "plan")
    await step(f"/cases/{number}/approve", {"comment": "ok"}, HEAD, "approve")  # P2: the head approves
    await wait_for_record(store, number, "awaiting_feedback")
    await step(f"/cases/{number}/result-told", RESULT_TOLD, AGENT, "result-told", catching_up_from="executing")
    await step(f"/cases/{number}/feedback", {"score": 5}, AGENT, "feedback", catching_up_from="executing")
    await wait_for_record(store, number, "closed")
    return number


async def assert_nothing_lost_or_doubled(store: Any, client: Any, number: str) -> None:
    """The record holds each event of the lifecycle once, in sequence, as the workflow
    itself counted them, and exactly one ledger entry for the one approved refund."""
    from workflows.case import CaseWorkflow

    # Closed as satisfied, its fix check a week ahead (the workflow waits for it).
    view = await client.get_workflow_handle_for(CaseWorkflow.run, number).query(CaseWorkflow.state)
    assert (view.stage.value, view.outcome.value) == ("closed", "satisfied"), number
    assert view.fix_check is not None and view.fix_check.status.value == "scheduled", number
    timeline = await store.timeline(number)
    assert [event.seq for event in timeline] == list(range(1, view.seq + 1)), number
    assert [event.kind for event in timeline] == LIFECYCLE, number
    ledger = await store.ledger(number)
    assert [(entry.resolution_type, str(entry.amount)) for entry in ledger] == [("refund", "899.00")], number
    assert view.receipt is not None and view.receipt.reference == f"LEDGER-{ledger[0].id}", number
    outbox = [(o.seq, o.recipient, o.topic) for o in await store.outbox(number)]
    assert len(outbox) == len(set(outbox)), number
    row = await store.get_case(number)
    assert (row.stage, row.last_seq) == ("closed", view.seq), number


class DevProcess:
    """`python -m cli dev` (the `aftersales dev` command) in its own process group, so that
    `kill` takes the Temporal dev server, the worker, the dispatcher and the API down at once,
    as `kill -9` of the group does."""

    def __init__(self, *, data_dir: Path, database_url: str, prefix: str, task_queue: str) -> None:
        self.data_dir = data_dir
        self.api_port, self.temporal_port, self.ui_port = free_port(), free_port(), free_port()
        self.environment = os.environ | {
            "DATABASE_URL": database_url,
            "TASK_QUEUE": task_queue,
            "CASE_NUMBER_PREFIX": prefix,
            "LOG_LEVEL": "WARNING",
            "NOTIFY_POLL_SECONDS": "0.2",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    async def start(self, timeout: float = 90) -> None:
        assert self.process is None or self.process.poll() is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / f"dev-{self.starts}.log", "wb")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "cli", "dev", "--data-dir", str(self.data_dir), "--api-port", str(self.api_port),
                "--temporal-port", str(self.temporal_port), "--ui-port", str(self.ui_port),
            ],
            env=self.environment,
            cwd=self.data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.api_url, timeout=2) as api:
            while True:
                assert self.process.poll() is None, (
                    f"aftersales dev exited; see {self.data_dir}/dev-{self.starts - 1}.log"
                )
                try:
                    if (await api.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "aftersales dev did not answer"
                await asyncio.sleep(0.2)

    async def kill(self) -> None:
        """SIGKILL to the whole process group: nothing shuts down cleanly."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await asyncio.to_thread(self.process.wait)

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            await self.kill()


async def committed_transitions(client: Any, number: str) -> list[tuple[int, str]]:
    """(seq, kind) of every transition the workflow's history says was recorded: the
    results of its local `record_transition(s)` markers and of its completed regular
    `record_transition(s)` activities. Nothing else counts as done by the case."""
    from temporalio.api.enums.v1 import EventType

    from domain.records import RecordedTransition, Transition

    history = await client.get_workflow_handle(number).fetch_history()
    converter = client.data_converter
    scheduled: dict[int, tuple[str, Any]] = {}
    found: list[tuple[int, str]] = []

    async def add(activity_type: str, payloads: Any, sent: Any = None) -> None:
        # A regular activity's result leaves the kind to its input, beside it in the history.
        if activity_type == "record_transition":
            [one] = await converter.decode(payloads, [RecordedTransition])
            kind = one.kind or (await converter.decode(sent, [Transition]))[0].kind
            found.append((one.seq, kind.value))
        elif activity_type == "record_transitions":
            [many] = await converter.decode(payloads, [list[RecordedTransition]])
            kinds = {t.seq: t.kind for t in (await converter.decode(sent, [list[Transition]]))[0]} if sent else {}
            found.extend((one.seq, (one.kind or kinds[one.seq]).value) for one in many)

    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name != "core_local_activity" or "result" not in marker.details:
                continue
            data = json.loads(marker.details["data"].payloads[0].data)
            await add(data["activity_type"], marker.details["result"].payloads)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = (attributes.activity_type.name, attributes.input.payloads)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            activity_type, sent = scheduled[done.scheduled_event_id]
            await add(activity_type, done.result.payloads, sent)
    return found


async def assert_record_is_the_workflow(store: Any, client: Any, number: str) -> None:
    """The record's stage, timeline and notifications are what the workflow's history
    committed: every recorded transition once, nothing it never committed, and no
    notification for an event the case did not make."""
    from workflows.case import CaseWorkflow

    state = await client.get_workflow_handle_for(CaseWorkflow.run, number).query(CaseWorkflow.state)
    committed = await committed_transitions(client, number)
    assert [seq for seq, _ in committed] == list(range(1, state.seq + 1)), (number, committed)
    timeline = await store.timeline(number)
    assert [(e.seq, e.kind) for e in timeline] == committed, (number, [(e.seq, e.kind) for e in timeline], committed)
    row = await store.get_case(number)
    assert (row.stage, row.last_seq) == (state.stage.value, state.seq), number
    kinds = {e.seq: e for e in timeline}
    outbox = await store.outbox(number)
    assert len({(o.seq, o.recipient, o.topic) for o in outbox}) == len(outbox), number
    for o in outbox:
        event = kinds.get(o.seq)
        assert event is not None, (number, o.seq, o.topic, o.status)
        if o.topic in ("plan_approved", "plan_rejected"):
            assert event.kind == o.topic, (number, o.seq, o.topic, o.status, event.kind)
        if o.topic == "progress":
            assert o.body == {"stage": event.stage}, (number, o.seq, o.body, o.status, event.kind)
