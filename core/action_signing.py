"""The API's half of "approvals only from people" (issue 15 §7; the worker's half and the why are in
workflows/signed_actions.py): every update and signal our Temporal client sends carries
Aftersales' signature over (case, action, actor, request id).

The actor is the one the action names (a person's action takes the actor first); an action that
names none (a re-plan after new SLA rules) is signed for whoever `acting_as` says sent it, else for
the system. A client built without this interceptor (Temporal UI, the `temporal` CLI, a script
with the SDK) sends no signature, and the case refuses or ignores what it sends.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Interceptor,
    OutboundInterceptor,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
)

from core.settings import DEV_ACTION_SIGNING_KEY, Settings
from domain.case import SYSTEM_ACTOR, Actor
from workflows.signed_actions import HEADER, SIGNED_RUN, SIGNED_RUN_HEADER, named_actor, signed_header

log = logging.getLogger(__name__)

_acting: ContextVar[Actor | None] = ContextVar("aftersales_acting_as", default=None)
_warned = False


@contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Sign the actions sent inside for `actor` when they do not name one themselves."""
    token = _acting.set(actor)
    try:
        yield
    finally:
        _acting.reset(token)


def action_keys(settings: Settings) -> list[bytes]:
    """The key that signs first, then the keys still accepted. Without ACTION_SIGNING_KEY (refused
    when ACTION_SIGNING_KEY_REQUIRED, as in production) the development key, which anyone with the
    source has: said once per process."""
    global _warned
    keys = settings.action_keys()
    if keys[0] == DEV_ACTION_SIGNING_KEY and not _warned:
        _warned = True
        log.warning(
            "ACTION_SIGNING_KEY is unset: actions on cases are signed with the development key, which anyone "
            "with the source has; set a secret of at least 32 characters, the same for the API and the worker"
        )
    return keys


class ActionSigner(Interceptor):
    """Temporal client interceptor: signs every update and signal with `key`."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Signing(next, self.key)


class _Signing(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, key: bytes) -> None:
        super().__init__(next)
        self.key = key

    def _signed(
        self, headers: Mapping[str, Payload], case: str, action: str, args: Sequence[Any], request: str
    ) -> dict[str, Payload]:  # fmt: skip
        actor = named_actor(args) or _acting.get() or SYSTEM_ACTOR
        return {**headers, HEADER: signed_header(self.key, case, action, actor, request)}

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:
        # The id the SDK would draw anyway, drawn here so that the signature covers it.
        input.update_id = input.update_id or str(uuid.uuid4())
        input.headers = self._signed(input.headers, input.id, input.update, input.args, input.update_id)
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        start = input.start_workflow_input
        start.headers = {**start.headers, SIGNED_RUN_HEADER: SIGNED_RUN}
        update = input.update_workflow_input
        update.update_id = update.update_id or str(uuid.uuid4())
        update.headers = self._signed(
            update.headers, input.start_workflow_input.id, update.update, update.args, update.update_id
        )
        return await super().start_update_with_start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        input.headers = self._signed(input.headers, input.id, input.signal, input.args, str(uuid.uuid4()))
        await super().signal_workflow(input)

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        # A case started by us drops unsigned signals (workflows/signed_actions.py).
        input.headers = {**input.headers, SIGNED_RUN_HEADER: SIGNED_RUN}
        if input.start_signal:  # signal-with-start: the one header goes with the signal
            signal = input.start_signal
            input.headers = self._signed(input.headers, input.id, signal, input.start_signal_args, str(uuid.uuid4()))
        return await super().start_workflow(input)
