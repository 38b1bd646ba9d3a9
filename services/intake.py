"""Opening a case from the console's new case form, once per form: the form carries an
idempotency key, claimed as the API claims an Idempotency-Key (same scope, same request hash), so
a double click, a resent form or a retry after a failure opens one case, under one number."""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from temporalio.client import Client

from core.settings import Settings
from domain.case import Actor, CaseIntake
from services.cases import start_case
from services.sla_rules import SlaRulebook
from store.cases import CaseStore, IdempotencyKeyInFlight, IdempotencyKeyReused

__all__ = ["IdempotencyKeyInFlight", "IdempotencyKeyReused", "intake_hash", "open_case_once"]

# How often a repeat of a form still being opened looks whether the first has finished.
_WAIT_STEP_SECONDS = 0.1


def intake_hash(intake: CaseIntake) -> str:
    """The hash api/idempotency.py's `request_hash("POST /cases", intake)` computes: a key used
    through the API and the console stands for the same request."""
    return hashlib.sha256(("POST /cases\n" + intake.model_dump_json()).encode()).hexdigest()


async def open_case_once(
    store: CaseStore, temporal: Client, settings: Settings, rules: SlaRulebook, actor: Actor, intake: CaseIntake,
    key: str,
) -> str:  # fmt: skip
    """The number of the case this form opened, opening it if no request with `key` did.

    A repeat that arrives while the first is still opening waits for it (a double click
    answers both clicks with the same case). IdempotencyKeyReused: the key came with another
    intake (the form was changed after a failure): the caller issues a new key."""
    now = datetime.now(UTC)
    day = now.astimezone(ZoneInfo(settings.business_timezone)).strftime("%Y%m%d")
    digest = intake_hash(intake)
    give_up = time.monotonic() + settings.temporal_timeout_seconds + settings.case_query_timeout_seconds
    while True:
        try:
            claim = await store.claim_key(
                actor.id, key, digest, lock_seconds=settings.idempotency_lock_seconds, day=day
            )
            break
        except IdempotencyKeyInFlight:
            if time.monotonic() > give_up:
                raise
            await asyncio.sleep(_WAIT_STEP_SECONDS)
    if claim.replay:
        return claim.number
    try:
        # Brief: the console shows the case page next, which reads the case afresh.
        answer = await start_case(
            temporal, settings, rules, actor, intake, claim.number, now, fresh=claim.first, brief=True
        )
    except BaseException:
        # Shielded so a cancelled request still releases the key; a retry opens the same number.
        await asyncio.shield(store.release_key(actor.id, key))
        raise
    await store.complete_key(actor.id, key, 201, answer.model_dump(mode="json"))
    return claim.number
