"""What the customer page does for a signed link: read the case's status in plain words, and hand
the customer's answer to the case through the same updates the API sends (record feedback,
answer the fix check, relay a reply).

An answer acts once per link: it claims an idempotency key derived from the token (the record's
idempotency_keys, scope "customer-page") before it is sent, and its Temporal update id derives
from the same key, so a second press, a reload or the same link opened twice tells the customer
it was received instead of acting again.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from core.settings import Settings
from domain.case import Actor, CustomerReply, Evidence, Feedback, Role, Stage
from domain.follow_up import FixCheckAnswer
from domain.refusals import Refusal
from domain.sla import ClockName, ClockState
from domain.state import CaseState, CaseView
from services.cases import live_state
from services.customer_links import Claims
from services.temporal_calls import rpc_timeout, temporal_deadline
from services.uploads import Uploads
from store.attachments import AttachmentStore
from store.cases import CaseStore, IdempotencyKeyInFlight, IdempotencyKeyReused
from workflows.case import CaseWorkflow

# Who acts on the case's timeline when a customer answers on the page.
CUSTOMER_PAGE = Actor(id="customer-page", role=Role.SYSTEM)
SCOPE = "customer-page"
# Promises made to the customer: hearing from us, the first reply, the result.
_PROMISES = (ClockName.FIRST_REPLY, ClockName.RESOLUTION, ClockName.RESULT)


class Taken(StrEnum):
    TAKEN = "taken"  # acted on now
    ALREADY = "already"  # this link's answer was taken before
    BUSY = "busy"  # the first press is still being handled
    NOT_NOW = "not_now"  # the case does not take this answer any more (closed, answered elsewhere)


@dataclass(frozen=True)
class CaseStatus:
    number: str
    stage: Stage
    promised_at: datetime | None  # in the business timezone
    question: str | None  # what we asked the customer, while we wait for the answer
    handler: str | None  # only when settings.customer_page_shows_staff
    language: str | None = None  # the intake's customer.language: the page's default


async def status(temporal: Client, store: CaseStore, settings: Settings, number: str) -> CaseStatus | None:
    """The case's stage and next promised date, from the live state (the record once it ended)."""
    zone = ZoneInfo(settings.business_timezone)
    live = await live_state(temporal.get_workflow_handle(number), settings)
    if live is not None:
        return CaseStatus(
            number, live.stage, _promised(live, zone), live.open_question,
            live.assignee if settings.customer_page_shows_staff else None, _language(live.intake.customer.language),
        )  # fmt: skip
    row = await store.get_case(number)
    if row is None:
        return None
    customer = (row.intake or {}).get("customer") or {}
    return CaseStatus(number, Stage(row.stage), None, None, None, _language(customer.get("language")))


def _language(language: object) -> str | None:
    """The page speaks zh or en: a case in English gets English, any other language Chinese."""
    if language is None:
        return None
    value = str(getattr(language, "value", language))
    return "en" if value.lower().startswith("en") else "zh"


def _promised(case: CaseState, zone: ZoneInfo) -> datetime | None:
    dues = [c.due_at for n, c in case.clocks.items() if n in _PROMISES and c.state is ClockState.RUNNING]
    if case.next_update_at is not None and case.stage not in (Stage.CLOSED, Stage.ARCHIVED, Stage.WITHDRAWN):
        dues.append(case.next_update_at)
    return min(dues).astimezone(zone) if dues else None


async def answered(records: AttachmentStore, claims: Claims) -> bool:
    return await records.answered_at(SCOPE, claims.key) is not None


class CustomerPage:
    def __init__(self, temporal: Client, store: CaseStore, settings: Settings, uploads: Uploads) -> None:
        self.temporal, self.store, self.settings, self.uploads = temporal, store, settings, uploads

    async def survey(self, claims: Claims, score: int, comment: str | None) -> Taken:
        return await self._once(claims, CaseWorkflow.record_feedback, Feedback(score=score, comment=comment))

    async def fix_check(self, claims: Claims, held: bool, comment: str | None) -> Taken:
        return await self._once(claims, CaseWorkflow.answer_fix_check, FixCheckAnswer(held=held, comment=comment))

    async def reply(self, claims: Claims, text: str, files: list[bytes]) -> Taken:
        """The customer's answer and files; UploadRefused (nothing kept) for a file refused."""
        return await self._once(claims, CaseWorkflow.customer_reply, text, files)

    async def _once(self, claims: Claims, update: Any, payload: Any, files: list[bytes] | None = None) -> Taken:
        store, settings, key = self.store, self.settings, claims.key
        purpose = hashlib.sha256(f"{SCOPE}/{claims.purpose.value}".encode()).hexdigest()
        try:
            claim = await store.claim_key(
                SCOPE, key, purpose, lock_seconds=settings.idempotency_lock_seconds, number=claims.case_number
            )
        except IdempotencyKeyReused:
            return Taken.ALREADY
        except IdempotencyKeyInFlight:
            return Taken.BUSY
        if claim.replay:
            return Taken.ALREADY
        stored = []
        try:
            if files is not None:
                stored = await self.uploads.accept(claims.case_number, files) if files else []
                evidence = [Evidence(kind=row.kind, uri=f"attachment:{row.reference}") for row in stored]
                payload = CustomerReply(text=payload, evidence=evidence)
            view = await self._send(claims, update, payload, f"{SCOPE}/{update.__name__}/{key[:40]}")
        except BaseException:
            await asyncio.shield(self._undo(key, stored))
            raise
        if view is None:
            await asyncio.shield(self._undo(key, stored))
            return Taken.NOT_NOW
        await store.complete_key(SCOPE, key, 200, {"stage": view.stage.value})
        return Taken.TAKEN

    async def _undo(self, key: str, stored: list[Any]) -> None:
        await self.uploads.discard(stored)
        await self.store.release_key(SCOPE, key)

    async def _send(self, claims: Claims, update: Any, payload: Any, update_id: str) -> CaseView | None:
        """The case's view after the update; None when the case refuses it in its stage."""
        handle = self.temporal.get_workflow_handle(claims.case_number)
        try:
            async with temporal_deadline(self.settings):
                return await handle.execute_update(
                    update, args=[CUSTOMER_PAGE, payload], id=update_id, result_type=CaseView,
                    rpc_timeout=rpc_timeout(self.settings),
                )  # fmt: skip
        except WorkflowUpdateFailedError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == Refusal.ACTION_NOT_ALLOWED:
                return None
            raise
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:  # the case has ended
                return None
            raise
