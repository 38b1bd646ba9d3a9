"""Idempotency-Key: a repeated request acts once and gets the first answer again.

The key is claimed in the record before the work runs (a repeat replays the stored answer,
a repeat while the first runs is 409, the same key with another request is 422); the answer
is stored when the work succeeds and the key released when it fails."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.metrics import IDEMPOTENT_REPLAYS
from api.problems import Problem
from core.settings import Settings
from domain.case import Actor
from store.cases import CaseStore, IdempotencyKeyInFlight, IdempotencyKeyReused, KeyClaim

# What the work a key stands for answers: a case's view, or the acceptance of an asynchronous start.
Answer = TypeVar("Answer", bound=BaseModel)

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="Repeat a request safely: the same key acts once"),
]


def request_hash(target: str, *parts: BaseModel | str) -> str:
    # What the request asks for, so one key reused for another request (body or target) is caught.
    payload = (
        target
        + "\n"
        + "".join(part.model_dump_json() if isinstance(part, BaseModel) else f"{part}\n" for part in parts)
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def key_reused() -> Problem:
    return Problem(422, "Idempotency key reused", "this Idempotency-Key was already used with a different request body")


def key_in_flight() -> Problem:
    return Problem(
        409,
        "Request in progress",
        "the first request with this Idempotency-Key is still running; retry once it has answered",
        headers={"Retry-After": "1"},
    )


async def claim_key(
    store: CaseStore, settings: Settings, actor: Actor, key: str, request_hash: str, **bind: Any
) -> KeyClaim:
    try:
        return await store.claim_key(
            actor.id, key, request_hash, lock_seconds=settings.idempotency_lock_seconds, **bind
        )
    except IdempotencyKeyReused:
        raise key_reused() from None
    except IdempotencyKeyInFlight:
        raise key_in_flight() from None


def replayed(claim: KeyClaim, headers: dict[str, str] | None = None) -> JSONResponse:
    IDEMPOTENT_REPLAYS.inc()
    return JSONResponse(
        claim.body, status_code=claim.status or 200, headers={"Idempotent-Replayed": "true"} | (headers or {})
    )


async def finish(store: CaseStore, actor: Actor, key: str, status: int, work: Awaitable[Answer]) -> Answer:
    """Run the work a claimed key stands for; store its answer, or release the key if it fails."""
    try:
        view = await work
    except BaseException:
        # Failed (a refusal, Temporal down, the client gone): a retry with the key may run it
        # again. Shielded so a cancelled request still releases; else lock_seconds frees it.
        await asyncio.shield(store.release_key(actor.id, key))
        raise
    await store.complete_key(actor.id, key, status, view.model_dump(mode="json"))
    return view
