"""Each role's inbox: the cases waiting for this person, most urgent first (breached first,
then the least business time left on the next deadline). Read from the record, like every list."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.calendar import BusinessCalendar
from domain.case import Actor, Category, Department, Role, Stage
from domain.queues import Queue, QueueReason
from domain.triage import DEFAULT_ROUTING
from services.queues import queue_page
from store.cases import CaseStore
from store.glance import CaseGlance
from store.inbox_reads import InboxReads
from store.triage_rules import TriageRulesStore

CATEGORIES = frozenset(c.value for c in Category)
LIMIT = 100  # per list: an inbox is a worklist, not a search (find-a-case pages through the rest)

# What an agent does next, by stage: triage new and reopened cases, relay customers' replies,
# tell results, ask whether the fix held.
AGENT_WORK = {
    Stage.RECEIVED: "to_triage",
    Stage.REOPENED: "to_triage",
    Stage.AWAITING_CUSTOMER: "customer_reply",
    Stage.AWAITING_FEEDBACK: "result_to_tell",
    Stage.CLOSED: "fix_check",
}
HANDLER_STAGES = (Stage.TRIAGED, Stage.IN_HANDLING, Stage.AWAITING_CUSTOMER, Stage.PLAN_PROPOSED)
# Where the head may still name departments (domain/lifecycle.py NAME_DEPARTMENTS): before a plan.
NAMING_STAGES = (Stage.TRIAGED, Stage.IN_HANDLING, Stage.AWAITING_CUSTOMER)
# The rejection that sends a plan's approval to the head (domain/handling.py `rejections_before_head`).
SECOND_REJECTION = 2
ADMIN_STAGES = (Stage.RECEIVED, Stage.TRIAGED, Stage.IN_HANDLING, Stage.AWAITING_CUSTOMER, Stage.PLAN_PROPOSED,
                Stage.EXECUTING, Stage.AWAITING_FEEDBACK, Stage.REOPENED)  # fmt: skip


@dataclass
class InboxItem(CaseGlance):
    why: str = ""  # what this person is to do: a key the console translates
    time_left: timedelta | None = None

    @property
    def breached(self) -> bool:
        return self.sla_state == "breached" or (self.time_left is not None and self.time_left < timedelta(0))


def _item(row: Any, why: str) -> InboxItem:
    """From a glance, a case row or a queue entry: anything with the glance's fields."""
    return InboxItem(**CaseGlance.read(row), why=why)


async def _stages(
    store: CaseStore, stages: Iterable[Stage], visible_to: str | None = None
) -> dict[Stage, list[CaseGlance]]:
    """Each stage's LIMIT latest received cases (one query for all the lists)."""
    lists = await store.worklists([stage.value for stage in stages], LIMIT, visible_to=visible_to)
    return {Stage(stage): rows for stage, rows in lists.items()}


async def inbox(store: CaseStore, actor: Actor, calendar: BusinessCalendar, now: datetime) -> list[InboxItem]:
    items: list[InboxItem] = []
    reads = InboxReads(store.sessions)
    if actor.role is Role.AGENT:
        call_backs = await reads.call_backs_open(LIMIT)
        calling = {row.number for row in call_backs}
        lists = await _stages(store, AGENT_WORK)
        for stage, why in AGENT_WORK.items():
            rows = lists[stage]
            if stage is Stage.CLOSED:  # a closed case is work only while its fix check runs (a deadline)
                rows = [row for row in rows if row.next_deadline is not None and row.number not in calling]
            items += [_item(row, why) for row in rows]
        items += [_item(row, "call_back_due") for row in call_backs]
    elif actor.role is Role.HANDLER:
        mine = actor.department.value if actor.department else None
        lists = await _stages(store, HANDLER_STAGES, visible_to=mine or "-")
        for stage in HANDLER_STAGES:
            for row in lists[stage]:
                if row.department != mine:
                    items.append(_item(row, "contribution"))  # another department leads; ours assists
                elif stage is Stage.TRIAGED and not row.assignee:
                    items.append(_item(row, "unclaimed"))
                elif row.assignee == actor.id:
                    items.append(_item(row, "mine"))
    elif actor.role in (Role.SUPERVISOR, Role.HEAD):
        queue = Queue.SUPERVISOR if actor.role is Role.SUPERVISOR else Queue.HEAD
        page = await queue_page(store, queue, LIMIT, None, None)
        rejected: dict[str, int] = {}
        if actor.role is Role.HEAD:  # a plan on the head's desk because of a second rejection says so
            entries: list[Any] = page.items  # the glance's fields come from a model made by create_model
            approving = [e for e in entries if any(r.reason is QueueReason.AWAITING_APPROVAL for r in e.reasons)]
            waiting = [e.number for e in approving]
            rejected = await reads.rejections_this_cycle(waiting)
        for entry in page.items:
            glance: Any = entry  # the glance's fields come from a model made by create_model
            why = entry.reasons[0].reason.value if entry.reasons else "escalated"
            if rejected.get(glance.number, 0) >= SECOND_REJECTION:
                why = "second_rejection"
            items.append(_item(glance, why))
        if actor.role is Role.HEAD:  # reopened cases past the limit come through the queue; new ones to route
            items += [_item(row, "to_triage") for row in (await _stages(store, [Stage.RECEIVED]))[Stage.RECEIVED]]
            items += await _naming(store, reads)
    else:
        lists = await _stages(store, ADMIN_STAGES)
        for stage in ADMIN_STAGES:
            items += [_item(row, stage.value) for row in lists[stage]]
    for item in items:
        if item.next_deadline is not None:
            item.time_left = calendar.between(now, item.next_deadline)
    return sorted(items, key=urgency)


async def _naming(store: CaseStore, reads: InboxReads) -> list[InboxItem]:
    """Cases whose categories route to more than one department and where no department
    assists yet: the head is to name the lead and the assisting departments (DOMAIN.md step 3).
    Routed by the triage rules in force (admins' active version, else the default table)."""
    lists = await _stages(store, NAMING_STAGES)
    rows = [row for stage in NAMING_STAGES for row in lists[stage]]
    if not rows:
        return []
    rules = TriageRulesStore(store.sessions)
    version = await rules.active_version()
    active = await rules.rules(version) if version else None
    routing = active.routing if active is not None else DEFAULT_ROUTING
    categories = await store.categories([row.number for row in rows])
    several = [row for row in rows if len(_departments(categories[row.number], routing)) > 1]
    named = await reads.assisted([row.number for row in several])
    return [_item(row, "department_naming") for row in several if row.number not in named]


def _departments(categories: list[str], routing: Mapping[Category, Department]) -> set[str]:
    return {routing[Category(c)].value for c in categories if c in CATEGORIES and Category(c) in routing}


def urgency(item: InboxItem) -> tuple[bool, bool, datetime]:
    """Breached first; then least business time left, which orders as the due instants do (one
    calendar: time left grows with the instant), ties kept apart; cases with no deadline last."""
    return (not item.breached, item.next_deadline is None, item.next_deadline or datetime.max.replace(tzinfo=UTC))
