"""The actions a case page offers: each the API's path (for services/access.py's matrix), the case
workflow's update, the API's body model, and the lifecycle action whose stages it is allowed in.

`offered` is the one place that decides what a person sees: their role must be allowed the API
route, the case's stage must allow the action, a handler must lead the case (or contribute for
their own assisting department), and the live state must have the thing to act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from console.marketplace import decision_kinds
from domain.case import (
    Actor,
    Approval,
    CustomerReply,
    DuplicateMark,
    ExchangeChoice,
    Feedback,
    FirstContactAnswer,
    FollowUpCompletion,
    InfoRequest,
    Note,
    Reassignment,
    Rejection,
    Role,
    SolutionPlan,
    Stage,
    TriageDecision,
    Withdrawal,
)
from domain.contribution import ContributionStatus, ContributionSubmission, ContributionWaiver, DepartmentsNaming
from domain.follow_up import CallBackCompletion, FixCheckAnswer, FixCheckStatus, ResultTold
from domain.lifecycle import ALLOWED_STAGES
from domain.lifecycle import Action as Step
from domain.marketplace import PlatformDecisionRequest
from domain.returns import ReturnStep, ReturnStepReport
from domain.sla import DeadlineExtension
from domain.state import CaseState
from services.access import allowed_roles, leads
from workflows.case import CaseWorkflow


@dataclass(frozen=True)
class CaseAction:
    slug: str  # the console's name for it, in its URL
    path: str  # the API's path after /cases/{number}/ (the access matrix's key)
    update: Any
    model: type[BaseModel] | None
    step: Step
    # A path parameter the person chooses (`department` to waive, `step` of a return); the
    # handler's own department fills `{department}` when they contribute.
    choice: str | None = None


ACTIONS: dict[str, CaseAction] = {
    a.slug: a
    for a in [
        CaseAction("triage", "triage", CaseWorkflow.triage, TriageDecision, Step.TRIAGE),
        CaseAction(
            "first-contact",
            "first-contact-answer",
            CaseWorkflow.answer_at_first_contact,
            FirstContactAnswer,
            Step.ANSWER_AT_FIRST_CONTACT,
        ),
        CaseAction("accept", "accept", CaseWorkflow.accept, None, Step.ACCEPT),
        CaseAction("note", "notes", CaseWorkflow.add_note, Note, Step.NOTE),
        CaseAction("ask", "info-requests", CaseWorkflow.request_info, InfoRequest, Step.REQUEST_INFO),
        CaseAction("reply", "customer-replies", CaseWorkflow.customer_reply, CustomerReply, Step.CUSTOMER_REPLY),
        CaseAction("plan", "plan", CaseWorkflow.propose_plan, SolutionPlan, Step.PROPOSE_PLAN),
        CaseAction("approve", "approve", CaseWorkflow.approve, Approval, Step.APPROVE),
        CaseAction("reject", "reject", CaseWorkflow.reject, Rejection, Step.REJECT),
        CaseAction("extend", "extensions", CaseWorkflow.extend_deadline, DeadlineExtension, Step.EXTEND_DEADLINE),
        CaseAction("reassign", "reassign", CaseWorkflow.reassign, Reassignment, Step.REASSIGN),
        CaseAction(
            "contribute", "contributions/{department}", CaseWorkflow.contribute, ContributionSubmission, Step.CONTRIBUTE
        ),
        CaseAction(
            "waive",
            "contributions/{department}/waive",
            CaseWorkflow.waive_contribution,
            ContributionWaiver,
            Step.WAIVE_CONTRIBUTION,
            choice="department",
        ),
        CaseAction(
            "departments", "departments", CaseWorkflow.name_departments, DepartmentsNaming, Step.NAME_DEPARTMENTS
        ),
        CaseAction(
            "return-step",
            "return-steps/{step}",
            CaseWorkflow.record_return_step,
            ReturnStepReport,
            Step.RETURN_STEP,
            choice="step",
        ),
        CaseAction(
            "exchange-choice", "exchange-choice", CaseWorkflow.choose_exchange, ExchangeChoice, Step.CHOOSE_EXCHANGE
        ),
        CaseAction(
            "follow-up",
            "follow-up/complete",
            CaseWorkflow.complete_follow_up,
            FollowUpCompletion,
            Step.COMPLETE_FOLLOW_UP,
        ),
        CaseAction("tell-result", "result-told", CaseWorkflow.tell_result, ResultTold, Step.TELL_RESULT),
        CaseAction("feedback", "feedback", CaseWorkflow.record_feedback, Feedback, Step.FEEDBACK),
        CaseAction(
            "call-back",
            "call-back/complete",
            CaseWorkflow.complete_call_back,
            CallBackCompletion,
            Step.COMPLETE_CALL_BACK,
        ),
        CaseAction("fix-check", "fix-check", CaseWorkflow.answer_fix_check, FixCheckAnswer, Step.ANSWER_FIX_CHECK),
        CaseAction("duplicate", "duplicate", CaseWorkflow.mark_duplicate, DuplicateMark, Step.MARK_DUPLICATE),
        CaseAction("withdraw", "withdraw", CaseWorkflow.withdraw, Withdrawal, Step.WITHDRAW),
        CaseAction(
            "platform-decision",
            "platform-decisions",
            CaseWorkflow.platform_decide,
            PlatformDecisionRequest,
            Step.PLATFORM_DECIDE,
        ),
    ]
}


OUTSTANDING = (ContributionStatus.PENDING, ContributionStatus.OVERDUE)


def api_path(action: CaseAction, number: str, actor: Actor) -> str:
    """The API route the action is, for the access matrix (a chosen parameter as a placeholder:
    the matrix allows the same roles whatever its value)."""
    department = actor.department.value if actor.department else "none"
    return f"/cases/{number}/{action.path.format(department=department, step=ReturnStep.LABEL_ISSUED.value)}"


def choices(action: CaseAction, live: CaseState) -> list[str]:
    """What the person may choose for the action's path parameter."""
    if action.choice == "department":
        return [c.department.value for c in live.contributions if c.status in OUTSTANDING]
    if action.choice == "step":
        return [step.value for step in ReturnStep]
    return []


def _live_allows(action: CaseAction, actor: Actor, live: CaseState) -> bool:
    """What the stage alone does not say: is there something to act on, is this the approver."""
    if action.slug in ("approve", "reject"):
        return actor.role in (live.rules.approver(live.priority, live.rejections), Role.HEAD)
    if action.slug == "tell-result":
        return live.result_told_at is None
    if action.slug == "call-back":
        return live.call_back is not None
    if action.slug == "fix-check":
        return live.fix_check is not None and live.fix_check.status is FixCheckStatus.SENT
    if action.slug == "contribute":
        return any(c.department == actor.department and c.status in OUTSTANDING for c in live.contributions)
    if action.slug == "waive":
        return bool(choices(action, live))
    if action.slug == "return-step":
        return live.returns is not None
    if action.slug == "exchange-choice":
        return live.exchange_offer is not None and live.exchange_choice is None
    if action.slug == "follow-up":
        return live.follow_up is not None
    if action.slug == "platform-decision":  # a marketplace after-sale waiting for the merchant (console/marketplace.py)
        return bool(decision_kinds(live))
    return True


def offered(actor: Actor, number: str, live: CaseState | None) -> list[CaseAction]:
    if live is None:
        return []
    found = []
    for action in ACTIONS.values():
        if actor.role not in allowed_roles("POST", api_path(action, number, actor)):
            continue
        if Stage(live.stage) not in ALLOWED_STAGES[action.step]:
            continue
        if actor.role is Role.HANDLER and action.slug != "contribute" and not leads(actor, live.department):
            continue
        if action.slug == "contribute" and actor.role is not Role.HANDLER:
            continue
        if _live_allows(action, actor, live):
            found.append(action)
    return found
