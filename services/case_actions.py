"""Sending a person's action to a case's workflow, for callers other than the API's routes (the
console): the same update, the same update id for the same idempotency key (so a double click or
a resent form acts once, as with the API's Idempotency-Key), and the workflow's refusal handed
back as `ActionRefused` with the field it names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from core.answer_form import brief_answers
from core.settings import Settings
from domain.case import Actor
from domain.refusals import Refusal
from domain.state import CaseBrief
from services.temporal_calls import rpc_timeout, temporal_deadline


@dataclass
class ActionRefused(Exception):
    """The case refused the action: `message` for people, `field` when it names one."""

    refusal: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def field(self) -> str | None:
        named = self.details.get("field")
        return named if isinstance(named, str) else None


class CaseGone(Exception):
    """No running workflow for the case: finished (it accepts no more actions) or never started."""


def update_id(actor: Actor, update: Any, key: str) -> str:
    """The same id api/deps.py derives from an Idempotency-Key: one action per key, whichever door."""
    return f"{actor.id}/{update.__name__}/{key}"


async def send_action(
    temporal: Client, settings: Settings, number: str, actor: Actor, update: Any, payload: list[Any], key: str | None
) -> CaseBrief:
    """The brief answer: the console redirects to the case page, which reads the case afresh."""
    handle = temporal.get_workflow_handle(number)
    try:
        async with temporal_deadline(settings):
            with brief_answers():
                return await handle.execute_update(
                    update,
                    args=[actor, *payload],
                    id=update_id(actor, update, key) if key else None,
                    result_type=CaseBrief,
                    rpc_timeout=rpc_timeout(settings),
                )
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type in set(Refusal):
            details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
            raise ActionRefused(str(cause.type), cause.message, details) from None
        raise
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise CaseGone(number) from None
        raise
