"""The recorder: every change becomes a transition (numbered under the case lock), written by
our own activity alone or with the others due at the same instant, and published as search
attributes and current details for operators."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import search_attributes as sa
    from domain.activities import RECORD_REFUSED_ERROR, CaseActivities
    from domain.case import SYSTEM_ACTOR, Actor, Department, Stage
    from domain.contribution import ContributionStatus
    from domain.lifecycle import EventKind
    from domain.presenting import current_details
    from domain.queues import escalations
    from domain.records import CaseSnapshot, Notification, Transition
    from domain.sla import ClockName

from workflows.case.base import CUSTOMER_VISIBLE_STAGES, RECORD_RETRY, UPDATED_STAGES, CaseBase, Next
from workflows.case.patches import (
    CHANGED_SEARCH_ATTRIBUTES,
    COALESCE_DUE_ITEMS,
    LOCAL_SIDE_EFFECTS,
    RECORD_AFTER_ACCEPT,
    RECORD_REFUSED,
    patched,
)

# The fields of the case row that a transition carries as the case has them.
SNAPSHOT_AS_IS = [
    "stage",
    "categories",
    "priority",
    "department",
    "assignee",
    "reopen_count",
    "escalation_level",
    "sla_state",
    "next_deadline",
    "outcome",
    "closed_at",
]


# The attributes a new case leaves unset until it has them (before the patch every upsert unset them).
UNSET_AT_START = (sa.CASE_PRIORITY, sa.DEPARTMENT, sa.NEXT_DEADLINE, sa.ASSIGNEE)


def _update(key: Any, value: Any) -> SearchAttributeUpdate:
    """An empty keyword (no priority, department or assignee yet) is unset, as a missing deadline."""
    return key.value_unset() if value is None or value == "" else key.value_set(value)


class Recorder(CaseBase):
    def _snapshot(self) -> CaseSnapshot:
        case = self._case
        return CaseSnapshot(
            **{name: getattr(case, name) for name in SNAPSHOT_AS_IS},
            policy_version=case.policy.version,
            calendar_version=case.calendar.version,
            escalations=escalations(case.clocks, case.policy.ladder),
        )

    async def _record(
        self,
        kind: EventKind,
        actor: Actor,
        to: Next | None = None,
        *,
        stage: Stage | None = None,
        waiting_for: str | None = None,
        data: dict[str, Any] | BaseModel | None = None,
        notify: list[Notification] | None = None,
        archive: bool = False,
        assisting: dict[Department, ContributionStatus] | None = None,
    ) -> None:
        """`kind` happened, by `actor`: the case moves `to` a stage and waits for what it names
        (or `stage` and `waiting_for` apart); `data` (a message is recorded as it came) goes on
        the timeline and `notify` to the outbox."""
        case = self._case
        now = workflow.now()
        if to is not None:
            stage, waiting_for = to
        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json")
        notifications = list(notify or [])
        if stage is not None and stage is not case.stage and stage in CUSTOMER_VISIBLE_STAGES:
            if not any(n.recipient == "customer" for n in notifications):
                notifications.append(Notification(recipient="customer", topic="progress", body={"stage": stage.value}))
        if stage is not None:
            case.stage = stage
        if waiting_for is not None:
            case.waiting_for = waiting_for
        if case.stage is Stage.ARCHIVED:
            case.waiting_for = "nothing: archived"
        case.seq += 1
        case.updated_at = now
        self._changes += 1
        if case.stage not in UPDATED_STAGES:
            case.next_update_at = None
        elif case.next_update_at is None or any(n.recipient == "customer" for n in notifications):
            cadence = case.policy.update_cadence(case.priority, case.intake.customer.tier)
            case.next_update_at = cadence.add(case.calendar, now, cadence.budget)
        first = case.seq == 1
        categories_changed = self._recorded_categories != case.categories
        self._recorded_categories = list(case.categories)
        transition = Transition(
            number=case.number,
            seq=case.seq,
            kind=kind,
            at=now,
            actor=actor,
            data=data or {},
            snapshot=self._snapshot(),
            intake=case.intake if first else None,
            received_at=case.received_at if first else None,
            notifications=notifications,
            archive=case.model_dump(mode="json") if archive else None,
            categories_changed=categories_changed,
            assisting=assisting,
        )
        if self._batch is not None:  # written with the other items due now
            self._batch.append(transition)
            return
        await self._write(transition)

    async def _write(self, *transitions: Transition) -> None:
        """One transition by `record_transition`; several that became due together by
        `record_transitions`, in one write."""
        self._publish()
        one = len(transitions) == 1
        # Without the fields at their defaults, which the activity reads back as the same
        # Transition: a regular activity's input is kept in history (issue 19 §4). Not a
        # command's identity: replay compares an activity's type and id, never its input.
        lean = [t.model_dump(mode="json", exclude_defaults=True) for t in transitions]
        try:
            await self._own_activity(
                CaseActivities.record_transition if one else CaseActivities.record_transitions,
                lean[0] if one else lean,
                after_accept=one,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RECORD_RETRY,
                summary="record " + ", ".join(t.kind.value for t in transitions),
            )
        except (ActivityError, ApplicationError) as error:
            await self._refused(list(transitions), error)
        self._recorded = transitions[-1].seq

    async def _refused(self, transitions: list[Transition], error: ActivityError | ApplicationError) -> None:
        """The database refused these transitions for good: note it (without their payload,
        which is what was refused) and wait here for an engineer, holding the case lock so
        nothing later is recorded out of order. Any other failure goes on as before. (A local
        activity's failure arrives as the activity's own ApplicationError, a regular one's
        wrapped in ActivityError.)"""
        cause = error.cause if isinstance(error, ActivityError) else error
        if not isinstance(cause, ApplicationError) or cause.type != RECORD_REFUSED_ERROR or not patched(RECORD_REFUSED):
            raise error
        first = transitions[0]
        reason = cause.message  # names the event and the database's error class, never the refused value
        self._refusal = reason
        await self._own_activity(
            CaseActivities.record_failure,
            {
                "number": first.number,
                "seq": first.seq,
                "kind": first.kind.value,
                "reason": reason,
                "at": workflow.now().isoformat(),
            },
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORD_RETRY,
            summary=f"note that the database refused {first.kind.value}",
        )
        workflow.set_current_details(f"**Record refused**: {self._refusal}. Waiting for an engineer.")
        await workflow.wait_condition(lambda: False)

    async def _write_together(self, batch: list[Transition]) -> None:
        """The transitions held while due items fired together (`_batch`)."""
        if len(batch) > 1 and not patched(COALESCE_DUE_ITEMS):
            # One due item may record several events (a default that also resumes clocks);
            # recorded before this patch, each was its own write, in order.
            for transition in batch:
                await self._write(transition)
        elif batch:
            await self._write(*batch)

    @staticmethod
    async def _own_activity(
        activity: Callable[..., Awaitable[Any]], arg: Any, *, after_accept: bool = False, **options: Any
    ) -> Any:
        """An activity on our own database, the one place that decides local or regular: local
        once the case carries LOCAL_SIDE_EFFECTS, except a person's action (`after_accept`, in
        an update) once it carries RECORD_AFTER_ACCEPT: a regular activity scheduled with the
        acceptance, so the write exists only once the acceptance is in history."""
        if after_accept and workflow.current_update_info() is not None and patched(RECORD_AFTER_ACCEPT):
            return await workflow.execute_activity_method(activity, arg, **options)
        if patched(LOCAL_SIDE_EFFECTS):
            return await workflow.execute_local_activity_method(activity, arg, **options)
        return await workflow.execute_activity_method(activity, arg, **options)

    async def _record_resumed(self, resumed: list[str]) -> None:
        """The clocks that ran again, with their new due instants (none: nothing to record)."""
        if resumed:
            due = {name: self._case.clocks[ClockName(name)].due_at.isoformat() for name in resumed}
            await self._record(EventKind.SLA_RESUMED, SYSTEM_ACTOR, data={"clocks": resumed, "due_at": due})

    def _publish(self) -> None:
        """Search attributes and current details for operators in Temporal UI: the attributes
        that changed since the last upsert (all of them, every time, before
        CHANGED_SEARCH_ATTRIBUTES). A new case knows its empty keywords unset; a continued
        one's new run knows nothing and upserts all once."""
        case = self._case
        values: dict[Any, Any] = {
            sa.CASE_STAGE: case.stage.value,
            sa.CASE_PRIORITY: case.priority.value if case.priority else None,
            sa.CASE_CATEGORY: [c.value for c in case.categories],
            sa.DEPARTMENT: case.department.value if case.department else None,
            sa.SLA_STATE: case.sla_state.value,
            sa.ESCALATION_LEVEL: case.escalation_level,
            sa.REOPEN_COUNT: case.reopen_count,
            sa.NEXT_DEADLINE: case.next_deadline,
            sa.ASSIGNEE: case.assignee,
            sa.CHANNEL: case.intake.channel.value,
            sa.CUSTOMER_TIER: case.intake.customer.tier.value,
        }
        published = self._published
        if patched(CHANGED_SEARCH_ATTRIBUTES):
            changed = [key for key, value in values.items() if key not in published or published[key] != value]
        else:
            changed = list(values)
        if changed:
            workflow.upsert_search_attributes([_update(key, values[key]) for key in changed])
        published.update(values)
        workflow.set_current_details(current_details(case, self._next_item()))
