"""What operators read about a case in Temporal UI: timer summaries and current details.

Pure text from the case's state (English: operators' tooling, not people-facing product text).
"""

from __future__ import annotations

from domain.contribution import outstanding
from domain.sla import ClockName, ClockState, DueItem, DueKind, label
from domain.state import CaseState


def rung(ladder: list[str], level: int) -> str:
    """Who an escalation at `level` (1-based) goes to; past the top, the top."""
    return ladder[min(level, len(ladder)) - 1]


def timer_summary(case: CaseState, item: DueItem) -> str:
    """What the case's one durable timer waits for, as its summary in the UI."""
    when = item.at.astimezone(case.calendar.zone).isoformat(timespec="minutes")
    priority = f" {case.priority.value}" if case.priority else ""
    if item.kind is DueKind.UPDATE:
        return f"progress update to the customer due {when}"
    if item.kind is DueKind.RETURN_STEP and case.returns is not None and case.returns.leg is not None:
        leg = case.returns.leg
        return f"{case.returns.kind.value} step {' or '.join(s.value for s in leg.steps)} due from {leg.sender.value} {when}"
    if item.kind is DueKind.EXCHANGE_REMINDER:
        return f"reminder of the unanswered exchange offer due {when}"
    if item.kind is DueKind.EXCHANGE_DEFAULT:
        return f"unanswered exchange offer becomes a refund {when}"
    if item.kind is DueKind.FIX_CHECK:
        return f"fix check to the customer due {when}"
    if item.kind is DueKind.CONTRIBUTION:
        return f"contribution from {item.department} due {when}"
    clock = item.clock
    if item.kind is DueKind.WARNING and clock is not None:
        return f"SLA {label(clock)}{priority} warning at {item.fraction:.0%} due {when}"
    if item.kind is DueKind.CLIMB and clock is not None:
        next_rung = rung(case.policy.ladder, case.clocks[clock].escalation_level + 1)
        return f"SLA {label(clock)}{priority} escalation to {next_rung} due {when}"
    if item.clock is ClockName.SURVEY:
        return f"survey window closes {when}"
    if item.clock is ClockName.FIX_CHECK:
        return f"fix check answer window closes {when}"
    return f"SLA {label(clock) if clock is not None else 'deadline'}{priority} due {when}"


def current_details(case: CaseState, item: DueItem | None) -> str:
    """The case at a glance (Markdown): stage, missed deadlines, paused clocks, the next timer
    (`item`), contributions awaited, reopens and an open call-back."""
    deadline = case.next_deadline
    lines = [f"**{case.stage.value}**: waiting for {case.waiting_for}."]
    zone = case.calendar.zone
    for clock in case.clocks.values():
        if clock.state is ClockState.BREACHED and clock.breached_at is not None:
            escalated_to = rung(case.policy.ladder, clock.escalation_level)
            lines.append(
                f"**{label(clock.name).capitalize()} deadline missed** at "
                f"{clock.breached_at.astimezone(zone).isoformat(timespec='minutes')}; escalated to {escalated_to} "
                f"(level {clock.escalation_level})."
            )
        elif clock.state is ClockState.PAUSED:
            lines.append(f"{label(clock.name).capitalize()} clock paused while the customer answers.")
    returns = case.returns
    if returns is not None and returns.overdue and returns.leg is not None and returns.due_at is not None:
        lines.append(
            f"**{returns.kind.value.capitalize()} step overdue** since "
            f"{returns.due_at.astimezone(zone).isoformat(timespec='minutes')}: "
            f"{' or '.join(s.value for s in returns.leg.steps)} from {returns.leg.sender.value}; supervisor told."
        )
    link = case.platform
    if link is not None:
        due = (
            f"; platform deadline {link.deadline.astimezone(zone).isoformat(timespec='minutes')}"
            if link.deadline
            else ""
        )
        extended = " (extended by the platform)" if link.extended and link.deadline else ""
        status = f"status {link.status}" if link.status else "no status yet"
        lines.append(f"{link.platform.value} after-sale {link.after_sale_id}: {status}{due}{extended}.")
        if link.task is not None:
            lines.append(f"**Platform refused** {link.task.decision.value}: a supervisor's follow-up task.")
    if deadline is not None:
        lines.append(f"Next deadline: {deadline.astimezone(zone).isoformat(timespec='minutes')}.")
    if item is not None:
        lines.append(f"Next timer: {timer_summary(case, item)}.")
    for c in outstanding(case.contributions):
        due = c.due_at.astimezone(zone).isoformat(timespec="minutes")
        lines.append(f"Waiting for a contribution from {c.department.value} ({c.status.value}, due {due}).")
    if case.reopen_count:
        lines.append(f"Reopened {case.reopen_count} time(s).")
    if case.call_back is not None:
        call_back_due = case.call_back.due_at
        when = f", due {call_back_due.astimezone(zone).isoformat(timespec='minutes')}" if call_back_due else ""
        lines.append(f"Call-back to the customer open ({case.call_back.reason}){when}.")
    if case.console_url:
        # Operators read here; people act in the console (actions sent from Temporal UI are refused).
        lines.append(f"[在售后工作台打开 · Open in the Aftersales console]({case.console_url}/cases/{case.number})")
    return "\n\n".join(lines)
