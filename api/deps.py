"""Dependencies: the case store, the Temporal client, and who is calling (api/auth.py,
api/access.py over services/access.py; `current_actor` and `require` are re-exported here for the routes); the case
number in a path, and `Action`, which sends an action to a case for every action route."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.access import assisting_only, authorize, require
from api.auth import current_actor
from api.idempotency import IdempotencyKey, claim_key, finish, replayed, request_hash
from api.prefer import RETURN_MINIMAL, PreferHeader, answered, preferences
from api.problems import Problem, case_not_found
from core.answer_form import brief_answers
from core.settings import Settings
from domain.case import Actor, Role
from domain.refusals import Refusal
from domain.state import CaseBrief, CaseView
from services.access import leads, sees
from services.case_actions import update_id
from services.cases import assisting, live_state
from services.sla_rules import SlaRulebook
from services.temporal_calls import rpc_timeout, temporal_deadline
from store.cases import CaseStore
from store.reports import ReportStore
from store.rules import RulesStore
from store.triage_rules import ActiveTriageRules


def _from_app(name: str) -> Callable[[Request], Any]:
    """A dependency reading what the app built at start-up (`app.state.<name>`); async, as FastAPI
    runs a plain function dependency on a worker thread: a thread hop per dependency and request."""

    async def read(request: Request) -> Any:
        return getattr(request.app.state, name)

    return read


get_store = _from_app("store")
get_temporal = _from_app("temporal")
get_sla_rules = _from_app("sla_rules")
get_rules_store = _from_app("rules")
get_report_store = _from_app("reports")
get_settings = _from_app("settings")
get_triage_rules = _from_app("triage_rules")


Store = Annotated[CaseStore, Depends(get_store)]
Temporal = Annotated[Client, Depends(get_temporal)]
AppSettings = Annotated[Settings, Depends(get_settings)]
SlaRules = Annotated[SlaRulebook, Depends(get_sla_rules)]
Rules = Annotated[RulesStore, Depends(get_rules_store)]
Reports = Annotated[ReportStore, Depends(get_report_store)]
TriageRulesInForce = Annotated[ActiveTriageRules, Depends(get_triage_rules)]
# The authenticated caller, allowed by the access matrix for the route it calls.
Caller = Annotated[Actor, Depends(authorize)]

__all__ = [
    "Action", "ActionAnswer", "AppSettings", "Caller", "CaseNumber", "Key", "Reports", "Rules", "SlaRules", "Store", "Temporal",
    "TriageRulesInForce", "add_actions", "allows", "current_actor", "require",
]  # fmt: skip


def allows(*roles: Role):
    """Like `require`, but answers whether the caller holds one of the roles instead of refusing;
    an unidentified caller is still refused (401)."""
    allowed = set(roles) | {Role.ADMIN}

    async def check(actor: Annotated[Actor, Depends(current_actor)]) -> bool:
        return actor.role in allowed

    return check


# As long as the record's column; a longer one names no case.
# No control characters either: PostgreSQL cannot compare a text with a NUL in it.
CaseNumber = Annotated[
    str,
    Path(
        min_length=1,
        max_length=32,
        pattern=r"^[^\x00-\x1f\x7f-\x9f]+$",
        description="The case number, e.g. AS-20261123-000001",
    ),
]


Key = IdempotencyKey


# Every refusal a case's workflow fails an update with (domain/refusals.py), as HTTP: the one place.
_REFUSALS: dict[str, tuple[int, str]] = {
    Refusal.ACTION_NOT_ALLOWED: (409, "Action not allowed now"),
    Refusal.INVALID_PLAN: (422, "Invalid plan"),
    Refusal.INVALID_TRIAGE: (422, "Invalid triage"),
    Refusal.NOT_PERMITTED: (403, "Not permitted"),
    Refusal.INVALID_EXTENSION: (422, "Invalid extension"),
    Refusal.INVALID_CHOICE: (422, "Invalid choice"),
}


# What an action route answers: the case's view, or the brief answer asked for with
# `Prefer: return=minimal`, or the first answer replayed for a repeated Idempotency-Key (stored
# as sent): the last two passed through as responses. Routes declare `response_model=CaseView`
# for the documentation and the validation of the view.
ActionAnswer = CaseView | JSONResponse


class CaseAction:
    """An action by the caller on the case in the path, injected into every action route
    (`Action`): `send` sends it to the case as a Temporal update; refusals become problem details.

    With an Idempotency-Key the key is claimed first (a repeat replays the first answer,
    a repeat while it runs is 409, another body is 422) and the update id derives from
    caller, action and key, so Temporal runs the action once even if the key was released.

    With `Prefer: return=minimal` the answer is the brief one (api/prefer.py).
    """

    def __init__(
        self, number: CaseNumber, actor: Caller, temporal: Temporal, store: Store, settings: AppSettings,
        idempotency_key: Key = None, prefer: PreferHeader = None,
    ) -> None:  # fmt: skip
        self.number, self.actor, self.key = number, actor, idempotency_key
        self.temporal, self.store, self.settings = temporal, store, settings
        self.brief = RETURN_MINIMAL in preferences(prefer)

    async def send(self, update: Any, *payload: Any) -> ActionAnswer:
        """Send `update(actor, *payload)` to the case."""
        actor, number, store, settings, key = self.actor, self.number, self.store, self.settings, self.key
        args = [actor, *payload]
        handle = self.temporal.get_workflow_handle(number)
        if actor.role is Role.HANDLER:
            # The live state, not the record: the record may trail a triage that just routed the case.
            live = await live_state(handle, settings)
            department = live.department if live else getattr(await store.get_case(number), "department", None)
            if not sees(actor, department, await assisting(store, number, live)):
                raise case_not_found(number)
            if not leads(actor, department) and not _contributes(update):
                raise assisting_only(actor, department, number)
        if not key:
            return answered(await _send(handle, store, settings, number, update, args, None, self.brief))
        claim = await claim_key(
            store, settings, actor, key, request_hash(f"{number}/{update.__name__}", *payload), number=number
        )
        if claim.replay:
            return replayed(claim)
        work = _send(handle, store, settings, number, update, args, update_id(actor, update, key), self.brief)
        return answered(await finish(store, actor, key, 200, work))


Action = Annotated[CaseAction, Depends()]


def _contributes(update: Any) -> bool:
    """The one action an assisting department's handler takes: a contribution (the case
    checks it is for their own department, naming the department it is for)."""
    return update.__name__ == "contribute"


async def _send(
    handle: WorkflowHandle, store: CaseStore, settings: Settings, number: str, update: Any, args: list[Any],
    update_id: str | None, brief: bool,
) -> CaseView | CaseBrief:  # fmt: skip
    try:
        async with temporal_deadline(settings):
            with brief_answers() if brief else nullcontext():
                return await handle.execute_update(
                    update,
                    args=args,
                    id=update_id,
                    result_type=CaseBrief if brief else CaseView,
                    rpc_timeout=rpc_timeout(settings),
                )
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type in _REFUSALS:
            status, title = _REFUSALS[cause.type]
            details = cause.details[0] if cause.details else {}
            raise Problem(status, title, cause.message, case=number, **details) from None
        raise
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
        row = await store.get_case(number)
        if row is None:
            raise case_not_found(number) from None
        raise Problem(
            409,
            "Action not allowed now",
            f"the case is {row.stage}: it accepts no more actions",
            case=number,
            stage=row.stage,
        ) from None


def add_actions(router: APIRouter, table: Iterable[tuple[str, Any, Any, str]], *, department: Any = None) -> None:
    """`add_action` for each row of a route module's table: (path, update, body, summary)."""
    for path, update, body, summary in table:
        add_action(router, path, update, body, summary=summary, department=department)


def add_action(router: APIRouter, path: str, update: Any, body: Any, *, summary: str, department: Any = None) -> None:
    """POST `path`: the caller's `body` goes to the case as `update`, by `Action` (access,
    idempotency, refusals), and the answer is the case's view. One shape for every action that
    takes one body; the route is named after the update, as a hand-written one would be.
    With `department` (the path parameter's type), the department in the path goes first."""

    async def route(payload: Any, action: Action) -> ActionAnswer:
        return await action.send(update, payload)

    async def department_route(department: Any, payload: Any, action: Action) -> ActionAnswer:
        return await action.send(update, department, payload)

    endpoint = route if department is None else department_route
    endpoint.__annotations__.update(payload=body, **({"department": department} if department is not None else {}))
    router.add_api_route(
        path, endpoint, methods=["POST"], response_model=CaseView, summary=summary, name=update.__name__
    )
