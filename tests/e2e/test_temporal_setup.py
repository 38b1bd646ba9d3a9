"""`aftersales temporal setup` registers the search attributes through the operator service."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from core.settings import Settings
from core.temporal_setup import SearchAttributeConflict, register_search_attributes
from domain import search_attributes as sa

NAMES = [key.name for key in sa.ALL]


async def _registered(client: Client, namespace: str) -> dict[str, int]:
    # retry: the server recycles its connections (GOAWAY): a read in flight then fails with
    # "operation was canceled" unless the SDK may send it again (seen once in CI).
    request = ListSearchAttributesRequest(namespace=namespace)
    listed = await client.operator_service.list_search_attributes(request, retry=True)
    return dict(listed.custom_attributes)


async def _new_namespace(client: Client) -> str:
    """A fresh namespace, once the server's namespace cache knows it."""
    name = f"setup-{uuid.uuid4().hex[:8]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86_400))
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            await _registered(client, name)
            return name
        except RPCError:
            assert time.monotonic() < deadline, f"namespace {name} never became usable"
            await asyncio.sleep(0.5)


async def test_setup_on_a_namespace_that_has_them_changes_nothing(env: WorkflowEnvironment) -> None:
    # The test server registered them at start, as `aftersales dev` does.
    before = await _registered(env.client, env.client.namespace)
    first = await register_search_attributes(env.client)
    second = await register_search_attributes(env.client)
    assert first.added == second.added == []
    assert sorted(first.existing) == sorted(second.existing) == sorted(NAMES)
    assert await _registered(env.client, env.client.namespace) == before


async def test_setup_registers_every_attribute_once_with_its_type(env: WorkflowEnvironment) -> None:
    namespace = await _new_namespace(env.client)
    assert not set(NAMES) & set(await _registered(env.client, namespace))

    result = await register_search_attributes(env.client, namespace)
    assert (result.namespace, sorted(result.added), result.existing) == (namespace, sorted(NAMES), [])
    registered = await _registered(env.client, namespace)
    assert {name: registered.get(name) for name in NAMES} == {key.name: int(key.indexed_value_type) for key in sa.ALL}
    assert registered["CaseCategory"] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST
    assert registered["NextDeadline"] == IndexedValueType.INDEXED_VALUE_TYPE_DATETIME

    again = await register_search_attributes(env.client, namespace)
    assert (again.added, sorted(again.existing)) == ([], sorted(NAMES))
    assert await _registered(env.client, namespace) == registered


async def test_setup_refuses_an_attribute_registered_with_another_type(env: WorkflowEnvironment) -> None:
    namespace = await _new_namespace(env.client)
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace, search_attributes={"CaseStage": IndexedValueType.INDEXED_VALUE_TYPE_INT}
        )
    )
    with pytest.raises(SearchAttributeConflict, match="CaseStage is Int, expected Keyword"):
        await register_search_attributes(env.client, namespace)
    # Nothing half-done: the other attributes were not added either.
    assert set(await _registered(env.client, namespace)) & set(NAMES) == {"CaseStage"}


def test_the_command_reports_what_it_did(env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    import cli.app as cli
    from cli import common as cli_common

    settings = Settings(temporal_address=env.client.service_client.config.target_host)
    monkeypatch.setattr(cli_common, "get_settings", lambda: settings)
    result = CliRunner().invoke(cli.app, ["temporal", "setup"])
    assert result.exit_code == 0, result.output
    assert "already there: CaseStage, CasePriority" in result.output
    assert "added" not in result.output

    unreachable = Settings(temporal_address="127.0.0.1:1")
    monkeypatch.setattr(cli_common, "get_settings", lambda: unreachable)
    failed = CliRunner().invoke(cli.app, ["temporal", "setup"])
    assert failed.exit_code == 1
    assert "nothing answers at Temporal 127.0.0.1:1" in failed.output
