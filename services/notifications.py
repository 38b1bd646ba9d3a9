"""Failed notifications: an operator sends one again (the console's failed notifications page,
`POST /ops/notifications/{id}/retry`).

The row goes back to pending, due now, with a fresh round of attempts; the dispatcher delivers
it under the same key (case, seq, recipient, topic), so a receiver that did get it after all
deduplicates. A retry acts once: a second click finds the row no longer failed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from enum import StrEnum

from domain.case import Actor, Role
from store.cases import CaseStore
from store.models import OutboxRow
from store.outbox import FAILED, OutboxStore

logger = logging.getLogger(__name__)

# Who may send a failed notification again (api/access.py takes its entry from here).
RETRY_ROLES = frozenset({Role.SUPERVISOR, Role.HEAD, Role.ADMIN})


class RetryRefused(StrEnum):
    NOT_PERMITTED = "not_permitted"
    NOT_FOUND = "not_found"
    NOT_FAILED = "not_failed"  # already retried (pending, sending) or delivered


class RetryNotAllowed(Exception):
    def __init__(self, reason: RetryRefused, status: str | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.status = status  # the row's status, when it is not failed


def failed_notifications(store: CaseStore, limit: int) -> Awaitable[list[OutboxRow]]:
    """The notifications given up on, newest first."""
    return OutboxStore(store.sessions).with_status(FAILED, limit)


async def retry_notification(store: CaseStore, actor: Actor, notification_id: int) -> OutboxRow:
    """The row, back to pending; RetryNotAllowed says why not."""
    outbox = OutboxStore(store.sessions)
    if actor.role not in RETRY_ROLES:
        raise RetryNotAllowed(RetryRefused.NOT_PERMITTED)
    row = await outbox.retry_failed(notification_id)
    if row is None:
        found = await outbox.get(notification_id)
        if found is None:
            raise RetryNotAllowed(RetryRefused.NOT_FOUND)
        raise RetryNotAllowed(RetryRefused.NOT_FAILED, found.status)
    # Ids only: the body may quote the case.
    logger.info("notification %d of %s sent again by %s", row.id, row.case_number, actor.id)
    return row
