"""/ops: what operators look at first, the stuck cases."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import AppSettings, Caller, Store, Temporal
from api.problems import Problem
from services.notifications import RetryNotAllowed, RetryRefused, retry_notification
from services.stuck import find_stuck, temporal_ui_link
from services.temporal_calls import rpc_timeout, temporal_deadline
from store.glance import CaseGlance, CaseGlanceView
from store.ops import OpsStore, StuckReason
from store.outbox import FAILED, OutboxStore

router = APIRouter(prefix="/ops", tags=["operations"])


class StuckCaseView(CaseGlanceView):  # made by create_model (store/glance.py)
    reasons: list[StuckReason]
    in_stage_since: datetime = Field(description="when the case entered its current stage")
    waited: timedelta = Field(description="how long it has been in its current stage")
    last_activity_at: datetime = Field(description="the last recorded event of any kind")
    failing_activity: str | None = Field(description="the activity retrying, its attempt and last failure")
    temporal_ui: str = Field(description="the case in Temporal UI")


class StuckPage(BaseModel):
    as_of: datetime
    in_stage_longer_than_hours: float
    total: int
    limit: int
    probed: int = Field(description="workflows described to find failing activities")
    items: list[StuckCaseView]


@router.get(
    "/stuck", response_model=StuckPage, summary="Cases that are breached, awaiting approval, idle in a stage or failing"
)
async def stuck(
    store: Store,
    temporal: Temporal,
    settings: AppSettings,
    actor: Caller,
    in_stage_longer_than_hours: Annotated[
        float, Query(gt=0, le=24 * 365, description="a case in one stage longer than this is stuck")
    ] = 24,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> StuckPage:
    async with temporal_deadline(settings):
        report = await find_stuck(
            OpsStore.beside(store),
            temporal,
            in_stage_longer_than=timedelta(hours=in_stage_longer_than_hours),
            limit=limit,
            rpc_timeout=rpc_timeout(settings),
        )
    items = [
        StuckCaseView(
            **CaseGlance.read(case),
            reasons=case.reasons,
            in_stage_since=case.in_stage_since,
            waited=max(report.as_of - case.in_stage_since, timedelta(0)),
            last_activity_at=case.last_activity_at,
            failing_activity=case.failing_activity,
            temporal_ui=temporal_ui_link(settings, case.number),
        )
        for case in report.items
    ]
    return StuckPage(
        as_of=report.as_of,
        in_stage_longer_than_hours=in_stage_longer_than_hours,
        total=report.total,
        limit=limit,
        probed=report.probed,
        items=items,
    )


class NotificationView(BaseModel):
    id: int
    case_number: str
    seq: int
    recipient: str
    topic: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None


@router.get(
    "/notifications",
    response_model=list[NotificationView],
    summary="Outbox notifications by delivery status, newest first (failed: given up after the last attempt; unrouted: no receiver configured)",
)
async def notifications(
    store: Store,
    actor: Caller,
    status: Literal["pending", "sending", "delivered", "failed", "unrouted"] = FAILED,  # type: ignore[assignment]  # FAILED is that literal
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[NotificationView]:
    rows = await OutboxStore(store._sessions).with_status(status, limit)  # noqa: SLF001 - same database
    return [NotificationView.model_validate(row, from_attributes=True) for row in rows]


@router.post(
    "/notifications/{notification_id}/retry",
    response_model=NotificationView,
    summary="Send a notification that failed for good again: back to pending, due now (acts once)",
)
async def retry(
    store: Store, actor: Caller, notification_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> NotificationView:
    try:
        row = await retry_notification(store, actor, notification_id)
    except RetryNotAllowed as refused:
        if refused.reason is RetryRefused.NOT_FOUND:
            raise Problem(404, "Notification not found", f"no notification {notification_id}") from None
        if refused.reason is RetryRefused.NOT_FAILED:
            raise Problem(
                409,
                "Notification not failed",
                f"notification {notification_id} is {refused.status}: only a failed one is sent again",
                status_now=refused.status,
            ) from None
        raise Problem(403, "Role not permitted", f"role {actor.role.value} may not retry notifications") from None
    return NotificationView.model_validate(row, from_attributes=True)
