"""Which action may happen in which stage, and the names of timeline events."""

from __future__ import annotations

from enum import StrEnum

from domain.case import Stage


class Action(StrEnum):
    TRIAGE = "triage"
    ACCEPT = "accept"
    NOTE = "note"
    REQUEST_INFO = "request_info"
    CUSTOMER_REPLY = "customer_reply"
    PROPOSE_PLAN = "propose_plan"
    APPROVE = "approve"
    REJECT = "reject"
    FEEDBACK = "feedback"
    WITHDRAW = "withdraw"
    EXTEND_DEADLINE = "extend_deadline"
    MARK_DUPLICATE = "mark_duplicate"
    ANSWER_AT_FIRST_CONTACT = "answer_at_first_contact"
    REASSIGN = "reassign"
    COMPLETE_FOLLOW_UP = "complete_follow_up"
    CHOOSE_EXCHANGE = "choose_exchange"
    RETURN_STEP = "return_step"  # logistics or the warehouse reports a step of a return or repair
    TELL_RESULT = "tell_result"
    COMPLETE_CALL_BACK = "complete_call_back"
    ANSWER_FIX_CHECK = "answer_fix_check"
    NAME_DEPARTMENTS = "name_departments"
    CONTRIBUTE = "contribute"
    WAIVE_CONTRIBUTION = "waive_contribution"
    PLATFORM_DECIDE = "platform_decide"  # a marketplace after-sale's decision, sent to the platform


class EventKind(StrEnum):
    RECEIVED = "received"
    TRIAGED = "triaged"
    ACCEPTED = "accepted"
    NOTE_ADDED = "note_added"
    INFO_REQUESTED = "info_requested"
    CUSTOMER_REPLIED = "customer_replied"
    PLAN_PROPOSED = "plan_proposed"
    PLAN_APPROVED = "plan_approved"
    PLAN_REJECTED = "plan_rejected"
    RESOLUTION_EXECUTED = "resolution_executed"
    REOPENED = "reopened"
    CLOSED = "closed"
    SURVEY_EXPIRED = "survey_expired"
    WITHDRAWN = "withdrawn"
    SLA_WARNING = "sla_warning"
    SLA_BREACHED = "sla_breached"
    SLA_ESCALATED = "sla_escalated"
    SLA_PAUSED = "sla_paused"
    SLA_RESUMED = "sla_resumed"
    SLA_REPLANNED = "sla_replanned"
    DEADLINE_EXTENDED = "deadline_extended"
    PROGRESS_UPDATE = "progress_update"
    APPROVAL_ESCALATED = "approval_escalated"  # the plan now needs the after-sales head
    REOPEN_LIMIT_REACHED = "reopen_limit_reached"  # reopened too often: the head takes over
    MARKED_DUPLICATE = "marked_duplicate"
    DUPLICATE_LINKED = "duplicate_linked"  # on the original: another case repeats this one
    FIRST_CONTACT_RESOLVED = "first_contact_resolved"  # answered at receipt from the knowledge base
    REASSIGNED = "reassigned"  # another department's queue, or another handler
    # A resolution's payment route refused or stayed unreachable; the next route is tried.
    EXECUTION_ROUTE_FAILED = "execution_route_failed"
    # Every route failed: a person must carry the resolution out; nothing was paid.
    FOLLOW_UP_TASK_CREATED = "follow_up_task_created"
    FOLLOW_UP_COMPLETED = "follow_up_completed"
    # The exchange item is out of stock: a similar item or a refund is offered.
    EXCHANGE_OUT_OF_STOCK = "exchange_out_of_stock"
    EXCHANGE_CHOSEN = "exchange_chosen"
    # The customer left the exchange offer unanswered: a reminder, then the refund it included.
    EXCHANGE_CHOICE_REMINDED = "exchange_choice_reminded"
    EXCHANGE_CHOICE_DEFAULTED = "exchange_choice_defaulted"
    # Returns and repairs (domain/returns.py): authorised at execution, then one event per
    # step from logistics or the warehouse (named like domain.returns.ReturnStep), and a
    # missed step deadline.
    RETURN_AUTHORISED = "return_authorised"
    LABEL_ISSUED = "label_issued"
    PICKUP_BOOKED = "pickup_booked"
    PARCEL_RECEIVED = "parcel_received"
    QUALITY_CHECKED = "quality_checked"
    RESTOCKED = "restocked"
    REPAIRED = "repaired"
    SHIPPED_BACK = "shipped_back"
    RETURN_STEP_OVERDUE = "return_step_overdue"
    # After execution: the customer is told the result; an unhappy customer is called back;
    # a week after a satisfied close the customer is asked whether the fix held.
    RESULT_TOLD = "result_told"
    CALL_BACK_TASK_CREATED = "call_back_task_created"
    CALL_BACK_COMPLETED = "call_back_completed"
    FIX_CHECK_SENT = "fix_check_sent"
    FIX_CONFIRMED = "fix_confirmed"  # the fix held: the case archives
    FIX_CHECK_UNANSWERED = "fix_check_unanswered"  # no answer in the window: the case archives
    # Multi-department cases: the head names the lead and the assisting departments; each
    # assisting department contributes by its deadline, late, or the lead waives it.
    DEPARTMENTS_NAMED = "departments_named"
    CONTRIBUTION_OVERDUE = "contribution_overdue"
    CONTRIBUTION_RECEIVED = "contribution_received"
    CONTRIBUTION_WAIVED = "contribution_waived"
    # Marketplace after-sales (channels/): each platform message applied, the platform's deadline
    # moved, and our decisions: sent, confirmed by a later platform message, or refused (a task).
    PLATFORM_MESSAGE = "platform_message"
    PLATFORM_DEADLINE_CHANGED = "platform_deadline_changed"
    PLATFORM_DECISION_SENT = "platform_decision_sent"
    PLATFORM_DECISION_CONFIRMED = "platform_decision_confirmed"
    PLATFORM_DECISION_REFUSED = "platform_decision_refused"
    ARCHIVED = "archived"


OPEN_STAGES = frozenset(
    {
        Stage.RECEIVED,
        Stage.TRIAGED,
        Stage.IN_HANDLING,
        Stage.AWAITING_CUSTOMER,
        Stage.PLAN_PROPOSED,
        Stage.REOPENED,
    }
)

ALLOWED_STAGES: dict[Action, frozenset[Stage]] = {
    Action.TRIAGE: frozenset({Stage.RECEIVED, Stage.REOPENED}),
    Action.ACCEPT: frozenset({Stage.TRIAGED}),
    Action.NOTE: frozenset({Stage.IN_HANDLING, Stage.AWAITING_CUSTOMER, Stage.PLAN_PROPOSED}),
    Action.REQUEST_INFO: frozenset({Stage.IN_HANDLING}),
    # A customer may write at any time while the case is open; the reply only
    # resumes handling when somebody was waiting for it.
    Action.CUSTOMER_REPLY: OPEN_STAGES | {Stage.AWAITING_FEEDBACK},
    Action.PROPOSE_PLAN: frozenset({Stage.IN_HANDLING}),
    Action.APPROVE: frozenset({Stage.PLAN_PROPOSED}),
    Action.REJECT: frozenset({Stage.PLAN_PROPOSED}),
    Action.FEEDBACK: frozenset({Stage.AWAITING_FEEDBACK}),
    # DOMAIN.md: withdrawal is possible before execution.
    Action.WITHDRAW: OPEN_STAGES,
    Action.EXTEND_DEADLINE: OPEN_STAGES - {Stage.RECEIVED, Stage.REOPENED},
    # Only before anything was carried out: a duplicate closes without a resolution.
    Action.MARK_DUPLICATE: OPEN_STAGES,
    Action.ANSWER_AT_FIRST_CONTACT: frozenset({Stage.RECEIVED}),
    # Before a plan is on the table: a new department starts from its queue.
    Action.REASSIGN: frozenset({Stage.TRIAGED, Stage.IN_HANDLING}),
    # Only while a follow-up task is open (checked by the workflow as well).
    Action.COMPLETE_FOLLOW_UP: frozenset({Stage.EXECUTING}),
    Action.CHOOSE_EXCHANGE: frozenset({Stage.EXECUTING}),  # only while an exchange offer is open
    Action.RETURN_STEP: frozenset({Stage.EXECUTING}),  # only while a return or repair is under way
    Action.TELL_RESULT: frozenset({Stage.AWAITING_FEEDBACK}),
    # Whenever a call-back task is open (checked by the workflow): it outlives the cycle it was opened in.
    Action.COMPLETE_CALL_BACK: frozenset(Stage) - {Stage.ARCHIVED},
    Action.ANSWER_FIX_CHECK: frozenset({Stage.CLOSED}),  # only while a fix check is pending
    # Before a plan is proposed: the plan waits for every contribution (or its waiver).
    Action.NAME_DEPARTMENTS: frozenset({Stage.TRIAGED, Stage.IN_HANDLING, Stage.AWAITING_CUSTOMER}),
    Action.CONTRIBUTE: frozenset({Stage.TRIAGED, Stage.IN_HANDLING, Stage.AWAITING_CUSTOMER}),
    Action.WAIVE_CONTRIBUTION: frozenset({Stage.TRIAGED, Stage.IN_HANDLING, Stage.AWAITING_CUSTOMER}),
    # The platform's after-sale runs on its own clock, whatever our stage (checked by the workflow:
    # only a marketplace case whose after-sale is not finished).
    Action.PLATFORM_DECIDE: frozenset(Stage) - {Stage.ARCHIVED},
}


class ActionNotAllowed(Exception):
    """The action is valid in itself but not in the case's current stage."""

    def __init__(self, action: Action, stage: Stage) -> None:
        allowed = ", ".join(sorted(ALLOWED_STAGES[action]))
        super().__init__(
            f"cannot {action.value.replace('_', ' ')} while the case is {stage.value}; allowed in: {allowed}"
        )
        self.action = action
        self.stage = stage


def check_allowed(action: Action, stage: Stage) -> None:
    if stage not in ALLOWED_STAGES[action]:
        raise ActionNotAllowed(action, stage)
