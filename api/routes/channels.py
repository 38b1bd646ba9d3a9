"""Marketplace channels: the platforms' message pushes, and decisions on a marketplace case.

POST /channels/douyin/events is public (the platform has no credentials of ours): the
platform's signature over the raw body is the check, and a failure is refused with 401
before anything is recorded. The platform waits at most 3 s for its answer, so the messages
are recorded (once per message id) and answered at once; the case acts on them after the
answer, and a sweep (`ChannelIntake.act_on_unapplied`) finishes anything a crash cut short.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import Caller, Store, add_actions
from api.problems import Problem
from channels.base import ChannelAdapter, MessageRejected
from domain.marketplace import Platform, PlatformDecisionRequest, PlatformEvent
from services.access import sees
from services.channel_intake import ChannelIntake
from store.channels import ChannelStore
from workflows.case import CaseWorkflow

logger = logging.getLogger(__name__)

router = APIRouter(tags=["channels"])
decisions = APIRouter(prefix="/cases", tags=["cases"])
lookups = APIRouter(tags=["channels"])

# What the platform's own API may add to a message (its current deadline) before we answer.
ENRICH_SECONDS = 1.0
# Douyin Shop's answer to a push it should not send again (zsmhub/doudian-sdk message/doudian_message.go).
DOUYIN_RECEIVED = {"code": 0, "msg": "success"}


async def get_intake(request: Request) -> ChannelIntake:
    state = request.app.state
    if getattr(state, "channel_intake", None) is None:  # built once the lifespan connected Temporal
        state.channel_intake = ChannelIntake(
            ChannelStore(state.store.sessions), state.store, state.temporal, state.settings, state.sla_rules
        )
    return state.channel_intake


Intake = Annotated[ChannelIntake, Depends(get_intake)]


def _adapter(request: Request, platform: Platform) -> ChannelAdapter:
    adapter = request.app.state.channel_adapters.get(platform)
    if adapter is None:
        raise Problem(404, "Channel not configured", f"the {platform.value} channel is not configured")
    return adapter


async def _enriched(adapter: ChannelAdapter, events: list[PlatformEvent]) -> list[PlatformEvent]:
    try:
        async with asyncio.timeout(ENRICH_SECONDS):
            return list(await asyncio.gather(*(adapter.enrich(e) for e in events)))
    except TimeoutError:
        return events


async def _act(intake: ChannelIntake, events: list[PlatformEvent]) -> None:
    for event in events:
        try:
            await intake.act(event)
        except Exception:  # the sweep applies it later; the message is recorded
            logger.exception(
                "douyin message %s for after-sale %s not applied yet", event.message_id, event.after_sale_id
            )


@router.post("/channels/douyin/events", summary="Douyin Shop message push (signed)")
async def douyin_events(request: Request, intake: Intake, background: BackgroundTasks) -> JSONResponse:
    adapter = _adapter(request, Platform.DOUYIN)
    body = await request.body()
    if not adapter.verify(body, request.headers):
        raise Problem(401, "Invalid signature", "event-sign does not match the body", field="event-sign")
    try:
        events = adapter.parse(body)
    except MessageRejected as error:
        raise Problem(
            422,
            "Invalid request",
            f"{error.field}: {error.reason}",
            errors=[{"field": error.field, "message": error.reason}],
        ) from None
    events = await _enriched(adapter, events)
    fresh = []
    for event in events:
        result = await intake.record(event)
        if not result.applied:
            fresh.append(event)
    background.add_task(_act, intake, fresh)
    return JSONResponse(DOUYIN_RECEIVED)


class AfterSaleLink(BaseModel):
    platform: Platform
    after_sale_id: str
    case_number: str


# As the record's column; a platform's after-sale ids are digits, letters, '-' and '_'.
AfterSaleId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]


@lookups.get(
    "/channels/{platform}/after-sales/{after_sale_id}",
    response_model=AfterSaleLink,
    summary="The case of a platform after-sale",
)
async def case_of_after_sale(
    platform: Platform, after_sale_id: AfterSaleId, intake: Intake, store: Store, actor: Caller
) -> AfterSaleLink:
    number = await intake.case_of(platform, after_sale_id)
    row = await store.get_case(number) if number is not None else None
    # A handler finds only their department's cases, as everywhere (the same 404 otherwise).
    if number is None or not sees(actor, row.department if row else None, await store.assisting(number)):
        raise Problem(404, "After-sale not found", f"no case for {platform.value} after-sale {after_sale_id}")
    return AfterSaleLink(platform=platform, after_sale_id=after_sale_id, case_number=number)


add_actions(
    decisions,
    [
        (
            "/{number}/platform-decisions",
            CaseWorkflow.platform_decide,
            PlatformDecisionRequest,
            "Decide on a marketplace after-sale: the case sends it to the platform",
        )
    ],
)
