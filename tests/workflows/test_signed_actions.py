"""Approvals only from people (issue 15 §7, workflows/signed_actions.py): a case takes an action only
with the API's signature. An update sent straight to the workflow, as Temporal UI's Send Update or
the `temporal` CLI sends it, is refused and records nothing; a forged signature likewise; a signal
sent straight is ignored. Histories with a dropped signal replay with the verifying worker."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from temporalio.client import Client, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from core.action_signing import ActionSigner
from core.settings import Settings
from domain.case import Approval, DuplicateLink
from tests.conftest import Database
from tests.support.api import open_and_triage, post
from tests.support.histories import baselines
from tests.support.people import AGENT, AGENT_ACTOR, HANDLER, HEAD, HEAD_ACTOR, PLAN
from tests.support.waiting import wait_for_event, wait_for_stage
from worker import SANDBOX
from workflows.case import CaseWorkflow
from workflows.signed_actions import UNSIGNED, ActionVerifier

OUTSIDE = "Actions on a case go through Aftersales"
OUTSIDE_ZH = "案件操作须通过 Aftersales"


def _outside(env: WorkflowEnvironment, signer: ActionSigner | None = None) -> Client:
    """A client as Temporal UI or the `temporal` CLI is: the same server and namespace, without
    Aftersales' key (or, with `signer`, with another one)."""
    return Client(
        env.client.service_client,
        namespace=env.client.namespace,
        data_converter=pydantic_data_converter,
        interceptors=[signer] if signer else [],
    )


async def _plan_proposed(api: httpx.AsyncClient) -> str:
    number = (await open_and_triage(api, priority="P3"))["number"]
    await post(api, f"/cases/{number}/accept", None, HANDLER)
    assert (await post(api, f"/cases/{number}/plan", PLAN, HANDLER))["stage"] == "plan_proposed"
    return number


async def _refused_approval(client: Client, number: str) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await client.get_workflow_handle(number).execute_update(CaseWorkflow.approve, args=[HEAD_ACTOR, Approval()])
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def _approvals_in_history(env: WorkflowEnvironment, number: str) -> int:
    history = await env.client.get_workflow_handle(number).fetch_history()
    return sum(
        1
        for event in history.events
        if event.HasField("workflow_execution_update_accepted_event_attributes")
        and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name == "approve"
    )


async def test_an_update_sent_straight_is_refused_and_records_nothing(
    api: httpx.AsyncClient, env: WorkflowEnvironment, database: Database
) -> None:
    number = await _plan_proposed(api)
    timeline = [(e.seq, e.kind) for e in await database.store.timeline(number)]

    cause = await _refused_approval(_outside(env), number)
    assert cause.type == UNSIGNED
    assert OUTSIDE in cause.message and OUTSIDE_ZH in cause.message

    # Never accepted: not in the history, not on the timeline, no money moved, the case still waits.
    assert await _approvals_in_history(env, number) == 0
    assert [(e.seq, e.kind) for e in await database.store.timeline(number)] == timeline
    assert await database.store.ledger(number) == []
    detail = (await api.get(f"/cases/{number}", headers=AGENT)).json()
    assert detail["live"]["stage"] == "plan_proposed"

    # The same approval through the API, signed for the head who sent it, goes through.
    approved = await api.post(f"/cases/{number}/approve", json={}, headers=HEAD)
    assert approved.status_code == 200, approved.text
    await wait_for_stage(api, number, "awaiting_feedback", AGENT)
    assert await _approvals_in_history(env, number) == 1
    assert [entry.resolution_type for entry in await database.store.ledger(number)] == ["refund"]
    approval = await wait_for_event(database, number, "plan_approved")
    assert (approval.actor_id, approval.actor_role) == ("head-sun", "head")


async def test_a_forged_signature_is_refused(
    api: httpx.AsyncClient, env: WorkflowEnvironment, database: Database
) -> None:
    number = await _plan_proposed(api)
    timeline = [(e.seq, e.kind) for e in await database.store.timeline(number)]

    forger = ActionSigner(b"not-the-key-the-api-and-worker-share-0123456789")
    cause = await _refused_approval(_outside(env, forger), number)
    assert cause.type == UNSIGNED and OUTSIDE in cause.message

    assert await _approvals_in_history(env, number) == 0
    assert [(e.seq, e.kind) for e in await database.store.timeline(number)] == timeline
    assert await database.store.ledger(number) == []


async def test_a_signal_sent_straight_is_ignored_and_history_replays(
    api: httpx.AsyncClient, env: WorkflowEnvironment, database: Database
) -> None:
    number = (await open_and_triage(api, priority="P3"))["number"]
    forged, signed = f"{database.prefix}-20200101-900001", f"{database.prefix}-20200101-900002"

    await (
        _outside(env)
        .get_workflow_handle(number)
        .signal(CaseWorkflow.link_duplicate, DuplicateLink(duplicate=forged, marked_by=AGENT_ACTOR))
    )
    # Signals are handled in the order they came: once the signed one is recorded, the other was dropped.
    await env.client.get_workflow_handle(number).signal(
        CaseWorkflow.link_duplicate, DuplicateLink(duplicate=signed, marked_by=AGENT_ACTOR)
    )
    link = await wait_for_event(database, number, "duplicate_linked")
    assert link.data == {"duplicate": signed}
    timeline = await database.store.timeline(number)
    assert [e.data for e in timeline if e.kind == "duplicate_linked"] == [{"duplicate": signed}]
    assert (await api.get(f"/cases/{number}", headers=AGENT)).json()["live"]["duplicates"] == [signed]

    # Replay takes the same decisions: the dropped signal stays dropped, the signed one is taken.
    history = await env.client.get_workflow_handle(number).fetch_history()
    replayer = Replayer(
        workflows=[CaseWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SANDBOX,
        interceptors=[ActionVerifier(Settings().action_keys())],
    )
    await replayer.replay_workflow(history)


NEWEST = baselines()[-1]


@pytest.mark.parametrize("path", sorted(NEWEST.glob("*.json")), ids=lambda path: path.stem)
async def test_the_newest_baseline_replays_with_the_verifying_worker(path: Path) -> None:
    # Recorded with the development key, as tests run: signed signals are taken, as they were.
    replayer = Replayer(
        workflows=[CaseWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SANDBOX,
        interceptors=[ActionVerifier(Settings().action_keys())],
    )
    await replayer.replay_workflow(WorkflowHistory.from_json(path.stem.split(".")[0], path.read_text()))


def test_production_requires_a_key_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACTION_SIGNING_KEY", raising=False)
    with pytest.raises(ValidationError, match="ACTION_SIGNING_KEY is required"):
        Settings(action_signing_key_required=True)
    with pytest.raises(ValidationError, match="at least 32 characters"):
        Settings(action_signing_key=SecretStr("short"))
    rotated = Settings(
        action_signing_key=SecretStr("n" * 32), action_signing_previous_keys=SecretStr(f"{'o' * 32}, {'p' * 40}")
    )
    assert rotated.action_keys() == [b"n" * 32, b"o" * 32, b"p" * 40]
