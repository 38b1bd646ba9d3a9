"""Multi-department cases: the head names assisting departments, each contributes or is waived."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import SYSTEM_ACTOR, Actor, Department, Role, Stage
    from domain.contribution import (
        Contribution,
        ContributionStatus,
        ContributionSubmission,
        ContributionWaiver,
        DepartmentsNaming,
        contribution_due,
        contribution_target,
        outstanding,
    )
    from domain.lifecycle import Action, EventKind
    from domain.records import Notification
    from domain.refusals import Refusal
    from domain.sla import DueItem

from workflows.case.base import action_update, awaiting_acceptance, refuse
from workflows.case.deadlines import Deadlines
from workflows.case.patches import MULTI_DEPARTMENT, patched


class ContributionHandlers(Deadlines):
    def _check_naming(self, actor: Actor, naming: DepartmentsNaming) -> None:
        case = self._case
        if naming.lead != case.department and case.stage is Stage.AWAITING_CUSTOMER:
            # The new lead starts from its queue; the open question and paused clocks stay with the old one.
            raise refuse(
                Refusal.ACTION_NOT_ALLOWED,
                "the case waits for the customer's answer: name a new lead once it has answered",
                {"stage": case.stage.value},
            )
        waiting = {c.department for c in outstanding(case.contributions)}
        again = [a.department.value for a in naming.assisting if a.department in waiting]
        if again:
            raise refuse(
                Refusal.INVALID_PLAN,
                f"a contribution from {', '.join(again)} is already outstanding",
                {"field": "assisting"},
            )
        if naming.lead in waiting:
            raise refuse(
                Refusal.INVALID_PLAN,
                f"{naming.lead.value} still owes a contribution: it cannot lead",
                {"field": "lead"},
            )

    @action_update(Action.NAME_DEPARTMENTS, validate_only=_check_naming)
    async def name_departments(self, actor: Actor, naming: DepartmentsNaming) -> None:
        """The head names the lead department and asks each assisting department for a
        contribution by its own deadline; a new lead takes the case from its queue. (The steps
        check the naming again after the history's marker, where they always did.)"""
        patched(MULTI_DEPARTMENT)  # marks the history: contribution deadlines may follow
        self._check_naming(actor, naming)
        case = self._case
        now = workflow.now()
        before = case.department
        moved = naming.lead != case.department
        case.department = naming.lead
        case.lead_department = naming.lead
        if moved:
            case.assignee = None
        asked = []
        for assist in naming.assisting:
            target = contribution_target(case.rules.contribution_due, case.priority, assist.due_in_hours)
            contribution = Contribution(
                department=assist.department,
                request=assist.request,
                requested_by=actor.id,
                requested_at=now,
                due_at=contribution_due(target, case.calendar, now),
            )
            # A department asked again (an earlier contribution received or waived) gets a new task.
            case.contributions = [
                c for c in case.contributions if c.department is not assist.department or c.outstanding
            ]
            case.contributions.append(contribution)
            asked.append(
                {
                    "department": assist.department.value,
                    "request": assist.request,
                    "due_at": contribution.due_at.isoformat(),
                    "target": target.describe(),
                }
            )
        notify = [
            Notification(
                recipient=f"department:{a['department']}",
                topic="contribution_requested",
                body={"lead": naming.lead.value, "due_at": a["due_at"]},
            )
            for a in asked
        ]
        if moved:
            notify.append(Notification(recipient=f"department:{naming.lead.value}", topic="case_assigned"))
        await self._record(
            EventKind.DEPARTMENTS_NAMED,
            actor,
            awaiting_acceptance(naming.lead.value) if moved else None,
            data={
                "lead": naming.lead.value,
                "from_department": before.value if before else None,
                "assisting": asked,
                "reason": naming.reason,
            },
            notify=notify,
            assisting=self._assisting(),
        )

    def _check_contribution(self, actor: Actor, department: Department, submission: ContributionSubmission) -> None:
        self._outstanding_from(department)
        self._check_contributor(actor, department)

    @action_update(Action.CONTRIBUTE, check=_check_contribution)
    async def contribute(self, actor: Actor, department: Department, submission: ContributionSubmission) -> None:
        contribution = self._outstanding_from(department)
        case = self._case
        now = workflow.now()
        late = now > contribution.due_at
        contribution.status = ContributionStatus.RECEIVED
        contribution.received_at = now
        contribution.late = late
        contribution.summary = submission.summary
        contribution.findings = submission.findings
        contribution.contributed_by = actor.id
        department_of = case.department.value if case.department else "unrouted"
        lead = f"employee:{case.assignee}" if case.assignee else f"department:{department_of}"
        await self._record(
            EventKind.CONTRIBUTION_RECEIVED,
            actor,
            data={
                "department": department.value,
                **submission.model_dump(mode="json"),
                "due_at": contribution.due_at.isoformat(),
                "on_time": not late,
                "late": late,
                "still_outstanding": [c.department.value for c in outstanding(case.contributions)],
            },
            notify=[
                Notification(
                    recipient=lead,
                    topic="contribution_received",
                    body={"department": department.value, "late": late},
                )
            ],
            assisting=self._assisting(),
        )

    def _check_waiver(self, actor: Actor, department: Department, waiver: ContributionWaiver) -> None:
        self._outstanding_from(department)
        self._check_lead(actor)

    @action_update(Action.WAIVE_CONTRIBUTION, check=_check_waiver)
    async def waive_contribution(self, actor: Actor, department: Department, waiver: ContributionWaiver) -> None:
        contribution = self._outstanding_from(department)
        case = self._case
        contribution.status = ContributionStatus.WAIVED
        contribution.waived_at = workflow.now()
        contribution.waived_by = actor.id
        contribution.waiver_reason = waiver.reason
        await self._record(
            EventKind.CONTRIBUTION_WAIVED,
            actor,
            data={
                "department": department.value,
                "reason": waiver.reason,
                "due_at": contribution.due_at.isoformat(),
                "still_outstanding": [c.department.value for c in outstanding(case.contributions)],
            },
            notify=[
                Notification(
                    recipient=f"department:{department.value}",
                    topic="contribution_waived",
                    body={"reason": waiver.reason},
                )
            ],
            assisting=self._assisting(),
        )

    def _outstanding_from(self, department: Department) -> Contribution:
        for contribution in outstanding(self._case.contributions):
            if contribution.department is department:
                return contribution
        raise refuse(
            Refusal.ACTION_NOT_ALLOWED,
            f"no contribution from {department.value} is outstanding on this case",
            {"stage": self._case.stage.value, "department": department.value},
        )

    def _check_contributor(self, actor: Actor, department: Department) -> None:
        """A handler contributes for their own department; supervisors and the head for any."""
        if actor.role is Role.HANDLER and actor.department is not department:
            raise refuse(
                Refusal.NOT_PERMITTED,
                f"only a {department.value} handler (or a supervisor or the head) contributes for {department.value}",
                {"department": department.value},
            )

    def _check_lead(self, actor: Actor) -> None:
        """The lead handler (the case's assignee) waives; supervisors and the head may too."""
        case = self._case
        if actor.role is Role.HANDLER and actor.id != case.assignee:
            raise refuse(
                Refusal.NOT_PERMITTED,
                "only the lead handler (the case's assignee), a supervisor or the head may go on without a contribution",
            )

    def _check_contributions_in(self) -> None:
        """A plan waits for every contribution, or for the lead's decision to go without it."""
        case = self._case
        waiting = outstanding(case.contributions)
        if waiting:
            names = [c.department.value for c in waiting]
            raise refuse(
                Refusal.ACTION_NOT_ALLOWED,
                f"waiting for contributions from {', '.join(names)}: each department contributes "
                f"(POST /cases/{case.number}/contributions/{{department}}) or the lead handler goes on without it "
                f"(POST /cases/{case.number}/contributions/{{department}}/waive)",
                {"stage": case.stage.value, "pending_departments": names},
            )

    async def _contribution_overdue(self, item: DueItem) -> None:
        """A contribution's deadline passed: its department's supervisor hears of it; a late
        contribution is still taken (and marked late)."""
        case = self._case
        contribution = next(
            c
            for c in case.contributions
            if c.status is ContributionStatus.PENDING and c.department.value == item.department
        )
        contribution.status = ContributionStatus.OVERDUE
        contribution.overdue_at = workflow.now()
        department = contribution.department.value
        await self._record(
            EventKind.CONTRIBUTION_OVERDUE,
            SYSTEM_ACTOR,
            data={
                "department": department,
                "request": contribution.request,
                "due_at": contribution.due_at.isoformat(),
                "escalated_to": f"supervisor:{department}",
            },
            notify=[
                Notification(
                    recipient=f"supervisor:{department}", topic="contribution_overdue", body={"department": department}
                ),
                Notification(
                    recipient=f"department:{department}", topic="contribution_overdue", body={"department": department}
                ),
            ],
            assisting=self._assisting(),
        )

    def _assisting(self) -> dict[Department, ContributionStatus]:
        """Each assisting department and where its (latest) contribution stands, for the record."""
        return {c.department: c.status for c in self._case.contributions}
