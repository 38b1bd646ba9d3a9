"""/queues: the cases waiting for a supervisor (module lead) or for the after-sales head.

Both queues answer the same way; each has its own path so the access matrix can tell them apart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Caller, Store
from api.problems import Problem
from domain.case import Department
from domain.queues import Queue
from services.queues import BadCursor, QueuePage, queue_page

router = APIRouter(prefix="/queues", tags=["queues"])

Limit = Annotated[int, Query(ge=1, le=100, description="at most this many cases, most urgent first")]
CursorParam = Annotated[str | None, Query(max_length=512, description="the `next_cursor` of the previous page")]

SUMMARIES = {
    Queue.SUPERVISOR: "Open cases waiting for a supervisor: escalated by a missed deadline, a plan to approve, a follow-up task",
    Queue.HEAD: "Open cases waiting for the after-sales head: escalated to the head, a plan to approve, reopened too often",
}


def _queue_route(queue: Queue) -> Callable[..., Awaitable[QueuePage]]:
    async def read_queue(
        store: Store,
        actor: Caller,
        limit: Limit = 20,
        cursor: CursorParam = None,
        department: Department | None = None,
    ) -> QueuePage:
        try:
            return await queue_page(store, queue, limit, cursor, department)
        except BadCursor:
            raise Problem(
                422, "Invalid request", "the cursor is not one this list handed out",
                errors=[{"field": "query.cursor", "message": "not a cursor of this list"}],
            ) from None  # fmt: skip

    return read_queue


for _queue, _summary in SUMMARIES.items():
    router.add_api_route(
        f"/{_queue.value}", _queue_route(_queue), methods=["GET"], response_model=QueuePage, summary=_summary,
        name=f"{_queue.value}_queue",
    )  # fmt: skip
