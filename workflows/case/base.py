"""What the handler groups of CaseWorkflow share: retry policies, stage sets, where a change
leaves the case (`Next`), refusals, the state they act on (`CaseBase`) and `action_update`,
the decorator every person's action is declared with (its stage rule, its checks)."""

from __future__ import annotations

import asyncio
import functools
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any, Concatenate, NamedTuple, ParamSpec, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.case import FollowUpTask, LedgerReceipt, Stage
    from domain.lifecycle import OPEN_STAGES, Action, ActionNotAllowed, check_allowed
    from domain.records import ResolutionOrder, Transition
    from domain.refusals import Refusal, Refused
    from domain.sla import DueItem, DueKind
    from domain.state import CaseState, CaseView
    from workflows.answer_form import wants_brief  # the very context variable the worker's interceptor sets


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


def answer(case: CaseState) -> Any:
    """What an update answers: `CaseBrief` when its caller asked for it (workflows/answer_form.py),
    otherwise the case's view without the fields at their defaults (most of
    them, and most of every clock's), which its caller reads back as the same `CaseView`
    (`result_type=CaseView`: pydantic fills the defaults in again). The answer is kept in the
    history of every update, so the full view cost ≈ 3 KB an action (issue 19 §4). Not a
    command: replay never compares an answer, and a caller of either shape reads the same view."""
    if wants_brief():
        return case.brief().model_dump(mode="json")
    return case.view().model_dump(mode="json", exclude_defaults=True)


class Next(NamedTuple):
    """Where a change leaves the case: the stage it moves to and what it then waits for."""

    stage: Stage
    waiting_for: str


AWAITING_SCORE = Next(Stage.AWAITING_FEEDBACK, "the customer's satisfaction score")

CARRYING_OUT = "the resolution to be carried out"

ARCHIVING = "archiving"


def awaiting_acceptance(department: str) -> Next:
    """Routed to a department, whose handlers take it from their queue."""
    return Next(Stage.TRIAGED, f"a {department} handler to accept")


def awaiting_plan(handler: str | None) -> Next:
    return Next(Stage.IN_HANDLING, f"handler {handler} to propose a solution plan")


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
    """What every handler group shares (set by CaseWorkflow.__init__): the case, its lock and
    the check that an action is allowed in the case's stage. The groups build on the recorder
    and the deadline loop (CaseBase <- Recorder <- Deadlines <- each group); what one group asks
    of another is declared here, so each is typed against the whole workflow it is part of."""

    _case: CaseState
    _lock: asyncio.Lock
    _changes: int
    _recorded: int
    _recorded_categories: list | None
    _batch: list[Transition] | None
    _refusal: str | None
    _published: dict[Any, Any]

    def _check(self, action: Action) -> None:
        try:
            check_allowed(action, self._case.stage)
        except ActionNotAllowed as error:
            raise _not_allowed(error) from None

    @asynccontextmanager
    async def _acting(self, action: Action) -> AsyncIterator[None]:
        """Runs an action once the case is recorded, under the case lock, checking
        the stage again: another action may have moved it since validation."""
        await workflow.wait_condition(lambda: self._case.seq > 0)
        async with self._lock:
            self._check(action)
            yield

    def _nothing_open(self, what: str) -> ApplicationError:
        """The refusal of an action on something the case does not have open (a task, an offer, a check)."""
        return refuse(Refusal.ACTION_NOT_ALLOWED, f"the case has no {what}", {"stage": self._case.stage.value})

    # Asked of one group by another (CaseWorkflow composes them all).
    @abstractmethod
    def _next_item(self) -> DueItem | None: ...  # deadlines

    @abstractmethod
    def _check_contributions_in(self) -> None: ...  # contributions

    @abstractmethod
    async def _contribution_overdue(self, item: DueItem) -> None: ...  # contributions

    @abstractmethod
    async def _send_fix_check(self) -> None: ...  # closing

    @abstractmethod
    async def _on_execution_due(self, item: DueItem) -> None: ...  # execution

    @abstractmethod
    async def _open_follow_up(self, task: FollowUpTask, waiting_for: str) -> None: ...  # execution

    @abstractmethod
    async def _authorise_return(self, order: ResolutionOrder) -> None: ...  # returns

    @abstractmethod
    def _settlement(self, order: ResolutionOrder) -> ResolutionOrder: ...  # returns

    @abstractmethod
    def _on_platform(self, order: ResolutionOrder) -> bool: ...  # marketplace

    @abstractmethod
    async def _refund_on_platform(self, order: ResolutionOrder) -> LedgerReceipt | None: ...  # marketplace

    @abstractmethod
    async def _authorise_return_on_platform(self) -> bool: ...  # marketplace


Case = TypeVar("Case", bound=CaseBase)
Message = ParamSpec("Message")
Check = Callable[..., None]
Steps = Callable[Concatenate[Case, Message], Awaitable[None]]


def action_update(
    action: Action, *, check: Check | None = None, validate_only: Check | None = None
) -> Callable[[Steps[Case, Message]], workflow.UpdateMethodMultiParam[Concatenate[Case, Message], CaseView]]:
    """A person's action as a Temporal update, named after the decorated method and taking its
    arguments; its steps run only where `domain.lifecycle` allows `action`:

    - the validator refuses the update if the case's stage does not allow `action`, then runs
      `check`, then `validate_only` (rules that recorded histories never ran in the handler);
    - the handler waits for the case to be recorded, takes the case lock, checks the stage and
      `check` again (another action may have changed the case since validation), runs the
      steps and answers with the case's view (`answer`: in history without its defaults).

    `check` and `validate_only` take the update's own arguments."""

    def decorate(
        steps: Steps[Case, Message],
    ) -> workflow.UpdateMethodMultiParam[Concatenate[Case, Message], CaseView]:
        @functools.wraps(steps)
        async def handler(self: Case, *args: Message.args, **kwargs: Message.kwargs) -> Any:
            async with self._acting(action):
                if check is not None:
                    check(self, *args, **kwargs)
                await steps(self, *args, **kwargs)
                return answer(self._case)

        # The SDK reads the arguments' types from the steps (functools.wraps) and the answer's from here.
        handler.__annotations__ = {**steps.__annotations__, "return": CaseView}

        @functools.wraps(steps)  # the SDK wants the validator's parameters to be the update's
        def validator(self: Case, *args: Message.args, **kwargs: Message.kwargs) -> None:
            self._check(action)
            for rule in (check, validate_only):
                if rule is not None:
                    rule(self, *args, **kwargs)

        validator.__name__ = f"_validate_{steps.__name__}"
        validator.__qualname__ = f"{steps.__qualname__.rpartition('.')[0]}.{validator.__name__}"
        update = workflow.update(handler)
        update.validator(validator)
        return update

    return decorate
