"""What the handler groups of CaseWorkflow share: retry policies, stage sets, the state they act on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.case import Stage
    from domain.lifecycle import OPEN_STAGES, ActionNotAllowed
    from domain.records import Transition
    from domain.refusals import Refusal, Refused
    from domain.sla import DueKind
    from domain.state import CaseState


TASK_QUEUE = "aftersales-cases"

# A database outage delays a case; it must never fail it.
RECORD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))

EXECUTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["ResolutionRefused", "RouteFailed"],
)

REFUND_ROUTES = ("original", "alternative")

ROUTE_FAILURES = frozenset({"RouteFailed", "ResolutionRefused"})

EXECUTION_DUE_KINDS = frozenset({DueKind.RETURN_STEP, DueKind.EXCHANGE_REMINDER, DueKind.EXCHANGE_DEFAULT})

# A stage change the customer hears about, and the stages in which silence is broken
# by a progress update at the policy's cadence (not while we wait on the customer).
CUSTOMER_VISIBLE_STAGES = frozenset({Stage.TRIAGED, Stage.IN_HANDLING, Stage.PLAN_PROPOSED, Stage.EXECUTING})

UPDATED_STAGES = OPEN_STAGES - {Stage.AWAITING_CUSTOMER, Stage.RECEIVED}

MAX_COALESCED = 10


def refuse(
    refusal: Refusal, message: str, details: dict[str, Any] | None = None, *, non_retryable: bool = False
) -> ApplicationError:
    """The error a refused update fails with: its type is the refusal, api/ maps it to HTTP."""
    if details is None:
        return ApplicationError(message, type=refusal.value, non_retryable=non_retryable)
    return ApplicationError(message, details, type=refusal.value, non_retryable=non_retryable)


@contextmanager
def applying_rules() -> Iterator[None]:
    """A rule from domain/ that refuses fails the update with its refusal."""
    try:
        yield
    except Refused as error:
        raise refuse(error.refusal, error.message, error.details) from None


def _not_allowed(error: ActionNotAllowed) -> ApplicationError:
    return refuse(
        Refusal.ACTION_NOT_ALLOWED,
        str(error),
        {"stage": error.stage.value, "action": error.action.value},
        non_retryable=True,
    )


class CaseBase:
    """What every handler group shares (set by CaseWorkflow.__init__)."""

    _case: CaseState
    _lock: asyncio.Lock
    _changes: int
    _recorded: int
    _recorded_categories: list | None
    _batch: list[Transition] | None
    _refusal: str | None
