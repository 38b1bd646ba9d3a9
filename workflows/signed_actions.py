"""Approvals only from people (issue 15 §7): a case accepts an action only with Aftersales' signature.

Temporal lets anyone who reaches the namespace send an update or a signal (Temporal UI's Send
Update, the `temporal` CLI), and the actor travels in the payload: without a check, a payload
typed by hand could approve a refund in a supervisor's name. So the API's Temporal client signs
every update and signal it sends (core/action_signing.py): HMAC-SHA256, with a key the API and the
worker share, over (case, action, actor, request id), in the `aftersales-signature` header. The
worker checks it here, in a worker interceptor, so the case's own code stays as it was:

- an update without a good signature is refused by its validator, before the stage checks: it is
  never accepted, so nothing of it reaches the history, the timeline or the ledger. Validators do
  not run when history replays (an accepted update stays accepted), so a later key change cannot
  break a case;
- a signal cannot be refused: one without a good signature is dropped with a warning and does
  nothing. Signal handlers do run on replay, so the decision must come out the same then: it
  depends only on what history holds (the signal's header, the run's start headers) and the keys
  (rotate by keeping old keys accepted). Runs started before signing began took every signal and
  replay so: only a run whose start carries the `aftersales-signed-actions` header (our client
  adds it to every start, the worker to every continue-as-new) drops unsigned signals. No marker
  is recorded: a history replays the same with or without this interceptor as long as no signal
  of it was dropped.

The request id is the update's id (Temporal runs one id once); a signal carries its own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from pydantic import ValidationError
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ContinueAsNewInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    SignalExternalWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

with workflow.unsafe.imports_passed_through():
    from domain.case import SYSTEM_ACTOR, Actor

HEADER = "aftersales-signature"
# On a run's start: its signals are checked (runs started before signing began have not got it).
SIGNED_RUN_HEADER = "aftersales-signed-actions"
SIGNED_RUN = Payload(metadata={"encoding": b"json/plain"}, data=b'"v1"')
# The workflows whose actions are signed (by type name: the interceptor sees every workflow of the worker).
SIGNED_WORKFLOWS = frozenset({"CaseWorkflow"})
# The ApplicationError type of the refusal; api/ does not map it: the API's own updates are signed.
UNSIGNED = "UnsignedAction"
UNSIGNED_MESSAGE = (
    "案件操作须通过 Aftersales（API 或工作台）办理，由其代操作人签名；直接发给工作流的更新"
    "（Temporal UI、temporal 命令行）一律拒绝。 Actions on a case go through Aftersales (its API or "
    "console), which signs them for the person taking them; an update sent straight to the workflow "
    "(Temporal UI, the temporal CLI) is refused."
)


def signature(key: bytes, case: str, action: str, actor: Actor, request: str) -> str:
    """HMAC-SHA256 over the four, encoded without ambiguity (a JSON array, keys sorted)."""
    message = json.dumps(
        [case, action, actor.model_dump(mode="json"), request], sort_keys=True, separators=(",", ":")
    ).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_header(key: bytes, case: str, action: str, actor: Actor, request: str) -> Payload:
    """The header's payload: the actor and request id in clear (the worker checks them against the
    action's arguments) and the signature over them. Headers are not encoded by the codec."""
    body = {"actor": actor.model_dump(mode="json"), "request": request, "signature": signature(key, case, action, actor, request)}  # fmt: skip
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(body, sort_keys=True).encode())


def signed_actor(
    keys: Sequence[bytes], headers: Mapping[str, Payload], case: str, action: str, request: str | None
) -> Actor | None:  # fmt: skip
    """The actor the header vouches for, if one of `keys` signed it for this case, action and
    request id (`None` for a signal: its own id, from the header); otherwise None."""
    payload = headers.get(HEADER)
    if payload is None:
        return None
    try:
        body = json.loads(payload.data)
        actor = Actor.model_validate(body["actor"])
        claimed, given = body["request"], body["signature"]
    except (ValueError, KeyError, TypeError, ValidationError):
        return None
    if not isinstance(claimed, str) or not isinstance(given, str) or (request is not None and claimed != request):
        return None
    for key in keys:
        if hmac.compare_digest(signature(key, case, action, actor, claimed), given):
            return actor
    return None


def _signed_workflow() -> bool:
    return workflow.info().workflow_type in SIGNED_WORKFLOWS


def named_actor(args: Sequence[Any]) -> Actor | None:
    """Who the action's payload says acts: every person's action takes the actor first; a
    duplicate link names who marked it."""
    first = args[0] if args else None
    if isinstance(first, Actor):
        return first
    marked_by = getattr(first, "marked_by", None)
    return marked_by if isinstance(marked_by, Actor) else None


class _Inbound(WorkflowInboundInterceptor):
    keys: tuple[bytes, ...] = ()

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_Outbound(outbound, self.keys))

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        if _signed_workflow():
            info = workflow.info()
            actor = signed_actor(self.keys, input.headers, info.workflow_id, input.update, input.id)
            named = named_actor(input.args)
            if actor is None or (named is not None and named != actor):
                # Before the case's own checks: an unsigned caller learns nothing about its stage.
                raise ApplicationError(UNSIGNED_MESSAGE, type=UNSIGNED, non_retryable=True)
        super().handle_update_validator(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        if _signed_workflow() and SIGNED_RUN_HEADER in workflow.info().headers:
            info = workflow.info()
            actor = signed_actor(self.keys, input.headers, info.workflow_id, input.signal, None)
            named = named_actor(input.args)
            if actor is None or (named is not None and named != actor):
                # No personal data: the signal's name and the case number only.
                workflow.logger.warning(
                    "signal %s to case %s ignored: not signed by Aftersales", input.signal, info.workflow_id
                )
                return
        await super().handle_signal(input)


class _Outbound(WorkflowOutboundInterceptor):
    """Signs what a case signals to another case (a duplicate's link to its original): the worker
    holds the key too. The request id is the sender's run and its count of such signals, which
    replay gives again without drawing on the workflow's random numbers."""

    def __init__(self, next: WorkflowOutboundInterceptor, keys: tuple[bytes, ...]) -> None:
        super().__init__(next)
        self.keys = keys
        self._sent = 0

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        self._sent += 1
        info = workflow.info()
        actor = named_actor(input.args) or SYSTEM_ACTOR
        request = f"{info.workflow_id}/{info.run_id}/{self._sent}"
        header = signed_header(self.keys[0], input.workflow_id, input.signal, actor, request)
        input.headers = {**input.headers, HEADER: header}
        await super().signal_external_workflow(input)

    def continue_as_new(self, input: ContinueAsNewInput) -> NoReturn:
        # The next run checks its signals as this one does (and a run from before signing began starts to).
        input.headers = {**input.headers, SIGNED_RUN_HEADER: SIGNED_RUN}
        super().continue_as_new(input)


class ActionVerifier(Interceptor):
    """The worker's half: `keys[0]` signs what cases send each other; every key in `keys` is accepted
    (the current one first, then those being rotated out)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one action signing key is needed")
        self.keys = tuple(keys)
        self._inbound: type[WorkflowInboundInterceptor] = type("_BoundInbound", (_Inbound,), {"keys": self.keys})

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return self._inbound
