"""SLA clocks on business time: targets by priority, pauses, warnings and the escalation ladder.

Pure code. The workflow pins a policy and a calendar when the case starts,
keeps one `SlaClock` per running target, and asks `next_due` for the single
instant it must wake at: a warning, a breach, or the next rung of the ladder.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.calendar import BusinessCalendar
from domain.case import Channel, CustomerTier, Priority
from domain.text import Text

WORKING_DAY = timedelta(hours=9)  # 09:00-18:00 on the default calendar


class ClockName(StrEnum):
    FIRST_REPLY = "first_reply"  # a person answers the customer: met at triage
    RESPOND = "respond"  # a handler starts handling: met at accept
    PLAN = "plan"  # a solution plan is proposed
    RESOLUTION = "resolution"  # resolved and the customer told: met at execution
    SURVEY = "survey"  # the customer's window to answer the survey; expiry closes the case
    APPROVAL = "approval"  # the approver decides on a proposed plan: met at approval or rejection
    # After execution (issue 4, step 6): an agent tells the customer the result within a working
    # day (met by result_told or the customer's survey answer); a low score or a fix that did not
    # hold opens a call-back task for an agent (met when it is done); a week after closing the
    # customer's window to answer the fix check (expiry archives the case as unanswered).
    RESULT = "result"
    CALL_BACK = "call_back"
    FIX_CHECK = "fix_check"
    # A marketplace after-sale (channels/): the platform's own deadline for the merchant's next
    # step (Douyin `status_deadline`, Taobao `refund_remind_timeout`), never a budget of ours.
    # Re-armed whenever the platform moves it; met when the platform's status no longer waits
    # for the merchant.
    PLATFORM = "platform"


# Windows in which the customer may answer: no warnings, no breach, no escalation; expiry is a
# step of the case, not a missed deadline of ours.
CUSTOMER_WINDOWS = frozenset({ClockName.SURVEY, ClockName.FIX_CHECK})
# A person's task that outlives the cycle it was opened in: execution, closing, reopening and
# waiting on the customer leave it running.
TASK_CLOCKS = frozenset({ClockName.CALL_BACK, ClockName.PLATFORM})  # the platform's clock runs whatever our stage


class ClockState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    BREACHED = "breached"  # past due and still unmet; the ladder climbs
    MET = "met"


class SlaState(StrEnum):
    """The case-level summary an operator filters on."""

    ON_TRACK = "on_track"
    WARNING = "warning"
    BREACHED = "breached"
    PAUSED = "paused"


class Target(BaseModel):
    """A budget, counted on the business calendar or around the clock."""

    budget: timedelta = Field(gt=timedelta(0))
    business: bool = True

    def add(self, calendar: BusinessCalendar, start: datetime, amount: timedelta) -> datetime:
        return calendar.add(start, amount) if self.business else start + amount

    def elapsed(self, calendar: BusinessCalendar, a: datetime, b: datetime) -> timedelta:
        return calendar.between(a, b) if self.business else b - a

    def describe(self) -> str:
        hours = self.budget.total_seconds() / 3600
        amount = f"{hours:g} h" if hours >= 1 else f"{self.budget.total_seconds() / 60:g} min"
        return f"{amount} {'business' if self.business else 'calendar'} time"


# Budgets as the rules write them: around the clock, or in business hours (9 a working day).
def calendar_hours(hours: float) -> Target:
    return Target(budget=timedelta(hours=hours), business=False)


def business_hours(hours: float) -> Target:
    return Target(budget=timedelta(hours=hours), business=True)


def _follow_up_targets() -> dict[ClockName, Target]:
    # DOMAIN.md: the result within 1 working day of completion, for every grade; a call-back
    # within a working day of the low score; 3 working days to answer the fix check.
    return {
        ClockName.RESULT: business_hours(9),
        ClockName.CALL_BACK: business_hours(9),
        ClockName.FIX_CHECK: business_hours(3 * 9),
    }


def _default_targets() -> dict[Priority, dict[ClockName, Target]]:
    # DOMAIN.md "Grades and deadlines". P1 runs around the clock; P2-P4 count
    # working time, a "24 h" or "N working days" figure being N working days.
    return {
        Priority.P1: {
            ClockName.APPROVAL: calendar_hours(2),
            ClockName.FIRST_REPLY: calendar_hours(0.25),
            ClockName.RESPOND: calendar_hours(2),
            ClockName.PLAN: calendar_hours(24),
            ClockName.RESOLUTION: calendar_hours(72),
            ClockName.SURVEY: calendar_hours(72),
            **_follow_up_targets(),
        },
        Priority.P2: {
            ClockName.APPROVAL: business_hours(4),
            ClockName.FIRST_REPLY: calendar_hours(0.5),
            ClockName.RESPOND: business_hours(4),
            ClockName.PLAN: business_hours(2 * 9),
            ClockName.RESOLUTION: business_hours(5 * 9),
            ClockName.SURVEY: calendar_hours(72),
            **_follow_up_targets(),
        },
        Priority.P3: {
            ClockName.APPROVAL: business_hours(9),
            ClockName.FIRST_REPLY: calendar_hours(0.5),
            ClockName.RESPOND: business_hours(8),
            ClockName.RESOLUTION: business_hours(3 * 9),
            ClockName.SURVEY: calendar_hours(72),
            **_follow_up_targets(),
        },
        Priority.P4: {
            ClockName.APPROVAL: business_hours(9),
            ClockName.FIRST_REPLY: calendar_hours(0.5),
            ClockName.RESPOND: business_hours(9),
            ClockName.RESOLUTION: business_hours(5 * 9),
            ClockName.SURVEY: calendar_hours(72),
            **_follow_up_targets(),
        },
    }


class TargetOverride(BaseModel):
    """A target for matching cases only; the most specific match wins."""

    clock: ClockName
    tier: CustomerTier | None = None
    channel: Channel | None = None
    priority: Priority | None = None
    target: Target

    def matches(self, clock: ClockName, priority: Priority, tier: CustomerTier, channel: Channel) -> bool:
        return (
            self.clock is clock
            and self.tier in (None, tier)
            and self.channel in (None, channel)
            and self.priority in (None, priority)
        )

    @property
    def specificity(self) -> int:
        return sum(value is not None for value in (self.tier, self.channel, self.priority))


def _default_overrides() -> list[TargetOverride]:
    return [
        # VIP phone complaints get a first reply in 5 minutes; e-mail within 24 hours.
        TargetOverride(
            clock=ClockName.FIRST_REPLY, tier=CustomerTier.VIP, channel=Channel.PHONE, target=calendar_hours(5 / 60)
        ),
        TargetOverride(clock=ClockName.FIRST_REPLY, channel=Channel.EMAIL, target=calendar_hours(24)),
    ]


class ExtensionLimit(BaseModel):
    """How far a deadline may be stretched with a reason (a complex P3 case: 7 working days)."""

    clock: ClockName
    priority: Priority
    max_budget: Target


class SlaPolicy(BaseModel):
    """Versioned targets, pinned on a case when it starts."""

    # 2026-11-default had no approval deadline; 2026-11-approval no result, call-back or fix-check clocks.
    version: Text = Field(default="2026-11-follow-up", min_length=1, max_length=64)  # as long as the record's column
    targets: dict[Priority, dict[ClockName, Target]] = Field(default_factory=_default_targets)
    overrides: list[TargetOverride] = Field(default_factory=_default_overrides)
    # Customer progress updates, even when nothing changed.
    update_every: Target = Field(default_factory=lambda: business_hours(9))
    urgent_update_every: Target = Field(default_factory=lambda: calendar_hours(12))  # P1 and VIP
    warn_at: list[float] = Field(default_factory=lambda: [0.75, 0.9])
    # After a breach, the case climbs one rung (supervisor, then head) per interval while unmet.
    ladder: list[str] = Field(default_factory=lambda: ["supervisor", "head"], min_length=1)
    climb_after: Target = Field(default_factory=lambda: calendar_hours(4))
    extension_limits: list[ExtensionLimit] = Field(
        default_factory=lambda: [
            ExtensionLimit(clock=ClockName.RESOLUTION, priority=Priority.P3, max_budget=business_hours(7 * 9))
        ]
    )

    def target(self, clock: ClockName, priority: Priority, tier: CustomerTier, channel: Channel) -> Target | None:
        matching = [o for o in self.overrides if o.matches(clock, priority, tier, channel)]
        if matching:
            return max(matching, key=lambda o: o.specificity).target
        return self.targets.get(priority, {}).get(clock)

    def update_cadence(self, priority: Priority | None, tier: CustomerTier) -> Target:
        return self.urgent_update_every if priority is Priority.P1 or tier is CustomerTier.VIP else self.update_every

    def max_budget(self, clock: ClockName, priority: Priority, current: Target) -> Target:
        for limit in self.extension_limits:
            if limit.clock is clock and limit.priority is priority:
                return limit.max_budget
        return Target(budget=current.budget * 2, business=current.business)


class DueKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"
    CLIMB = "climb"
    UPDATE = "update"  # a progress update to the customer, not a clock
    # Waits of an execution, not clocks either (domain/due.py `execution_due`).
    RETURN_STEP = "return_step"  # a return or repair step is due from logistics or the warehouse
    EXCHANGE_REMINDER = "exchange_reminder"  # the customer has not chosen: remind them
    EXCHANGE_DEFAULT = "exchange_default"  # still no choice: the offer's refund
    FIX_CHECK = "fix_check"  # ask the customer whether the fix held (days after closing), not a clock
    CONTRIBUTION = "contribution"  # an assisting department's contribution is due (multi-department)


class DueItem(BaseModel):
    kind: DueKind
    clock: ClockName | None
    at: datetime
    fraction: float | None = None
    department: str | None = None  # whose contribution is due (kind `contribution`)


class Pause(BaseModel):
    started_at: datetime
    ended_at: datetime | None = None


class SlaClock(BaseModel):
    name: ClockName
    target: Target
    started_at: datetime
    state: ClockState = ClockState.RUNNING
    used: timedelta = timedelta(0)  # budget consumed before `running_since`
    running_since: datetime | None = None
    due_at: datetime
    warnings_sent: int = 0
    escalation_level: int = 0
    next_climb_at: datetime | None = None
    met_at: datetime | None = None
    breached_at: datetime | None = None
    escalated_at: datetime | None = (
        None  # when it reached its current rung (unset on clocks breached before it existed)
    )
    pauses: list[Pause] = Field(default_factory=list)
    extended_by_platform: bool = False  # the `platform` clock: the marketplace moved its deadline later

    @classmethod
    def start(cls, name: ClockName, target: Target, at: datetime, calendar: BusinessCalendar) -> SlaClock:
        return cls(
            name=name, target=target, started_at=at, running_since=at, due_at=target.add(calendar, at, target.budget)
        )

    @property
    def open(self) -> bool:
        return self.state is not ClockState.MET

    def left(self, now: datetime, calendar: BusinessCalendar) -> timedelta:
        """Budget left at `now` (negative once breached)."""
        used = self.used
        if self.running_since is not None and now > self.running_since:
            used += self.target.elapsed(calendar, self.running_since, now)
        return self.target.budget - used

    def pause(self, at: datetime, calendar: BusinessCalendar) -> bool:
        """Stop the clock while the case waits on the customer. A breached clock keeps climbing;
        a person's task (a call-back) does not wait for the customer."""
        if self.state is not ClockState.RUNNING or self.running_since is None or self.name in TASK_CLOCKS:
            return False
        self.used += self.target.elapsed(calendar, self.running_since, max(at, self.running_since))
        self.running_since = None
        self.state = ClockState.PAUSED
        self.pauses.append(Pause(started_at=at))
        return True

    def resume(self, at: datetime, calendar: BusinessCalendar) -> bool:
        if self.state is not ClockState.PAUSED:
            return False
        self.state = ClockState.RUNNING
        self.running_since = at
        self.pauses[-1].ended_at = at
        self.due_at = self.target.add(calendar, at, self.target.budget - self.used)
        return True

    def retarget(self, target: Target, at: datetime, calendar: BusinessCalendar) -> None:
        """A new budget (an extension or a re-planned policy) from the time already used."""
        if self.running_since is not None:
            self.used += self.target.elapsed(calendar, self.running_since, max(at, self.running_since))
            self.running_since = at
        self.target = target
        if self.state is ClockState.RUNNING:
            self.due_at = target.add(calendar, at, max(target.budget - self.used, timedelta(0)))

    def meet(self, at: datetime) -> None:
        if self.state is not ClockState.MET:
            if self.pauses and self.pauses[-1].ended_at is None:
                self.pauses[-1].ended_at = at
            self.state = ClockState.MET
            self.met_at = at
            self.running_since = None
            self.next_climb_at = None

    def breach(self, at: datetime, policy: SlaPolicy, calendar: BusinessCalendar) -> None:
        self.state = ClockState.BREACHED
        self.breached_at = at
        self.escalation_level = 1
        self.escalated_at = at
        self._plan_climb(at, policy, calendar)

    def climb(self, at: datetime, policy: SlaPolicy, calendar: BusinessCalendar) -> None:
        self.escalation_level += 1
        self.escalated_at = at
        self._plan_climb(at, policy, calendar)

    def _plan_climb(self, at: datetime, policy: SlaPolicy, calendar: BusinessCalendar) -> None:
        top = self.escalation_level >= len(policy.ladder)
        self.next_climb_at = None if top else policy.climb_after.add(calendar, at, policy.climb_after.budget)

    def next_item(self, policy: SlaPolicy, calendar: BusinessCalendar) -> DueItem | None:
        if self.state is ClockState.RUNNING and self.running_since is not None:
            if self.name not in CUSTOMER_WINDOWS and self.warnings_sent < len(policy.warn_at):
                fraction = policy.warn_at[self.warnings_sent]
                remaining = self.target.budget * fraction - self.used
                at = self.target.add(calendar, self.running_since, max(remaining, timedelta(0)))
                return DueItem(kind=DueKind.WARNING, clock=self.name, at=min(at, self.due_at), fraction=fraction)
            return DueItem(kind=DueKind.BREACH, clock=self.name, at=self.due_at)
        if self.state is ClockState.BREACHED and self.next_climb_at is not None:
            return DueItem(kind=DueKind.CLIMB, clock=self.name, at=self.next_climb_at)
        return None


def next_due(clocks: dict[ClockName, SlaClock], policy: SlaPolicy, calendar: BusinessCalendar) -> DueItem | None:
    """The earliest thing any clock must do: the one durable timer the case holds."""
    items = [item for clock in clocks.values() if (item := clock.next_item(policy, calendar)) is not None]
    return min(items, key=lambda item: (item.at, item.kind != DueKind.BREACH), default=None)


def next_deadline(clocks: dict[ClockName, SlaClock]) -> datetime | None:
    """The earliest deadline still running (README, "Finding stuck cases"): a missed one is
    no longer counted, it shows as `SlaState` breached instead, so a breached case still
    tells when its next running clock is due. A paused clock has no deadline until it
    resumes; the customer's own windows (the survey, the fix check) are not ours to meet."""
    dues = [c.due_at for c in clocks.values() if c.state is ClockState.RUNNING and c.name not in CUSTOMER_WINDOWS]
    return min(dues, default=None)


def label(clock: ClockName) -> str:
    """How a clock is named to people: "first reply", "resolution"."""
    return clock.value.replace("_", " ")


def case_sla_state(clocks: dict[ClockName, SlaClock]) -> SlaState:
    live = [clock for clock in clocks.values() if clock.open and clock.name not in CUSTOMER_WINDOWS]
    if any(clock.state is ClockState.BREACHED for clock in live):
        return SlaState.BREACHED
    if any(clock.state is ClockState.PAUSED for clock in live):
        return SlaState.PAUSED
    if any(clock.warnings_sent for clock in live):
        return SlaState.WARNING
    return SlaState.ON_TRACK


def escalation_level(clocks: dict[ClockName, SlaClock]) -> int:
    return max((clock.escalation_level for clock in clocks.values() if clock.open), default=0)


class DeadlineExtension(BaseModel):
    """More time for one clock, with the reason the customer is told in advance."""

    clock: ClockName
    extra: timedelta = Field(gt=timedelta(0), description="counted like the clock's target (business or calendar time)")
    reason: Text = Field(min_length=1, max_length=2000)


class Replan(BaseModel):
    """A new policy or calendar version for a case that was pinned to an older one."""

    policy: SlaPolicy | None = None
    calendar: BusinessCalendar | None = None


class ClockView(BaseModel):
    name: ClockName
    state: ClockState
    target: str
    started_at: datetime
    due_at: datetime | None
    time_left: timedelta
    paused: bool
    warnings_sent: int
    escalation_level: int
    breached_at: datetime | None
    met_at: datetime | None
    extended_by_platform: bool = False


class SlaView(BaseModel):
    """The live SLA state of a case, as of the workflow's last step."""

    as_of: datetime
    policy_version: str
    calendar_version: str
    state: SlaState
    escalation_level: int
    next_deadline: datetime | None
    next_item: DueItem | None
    clocks: list[ClockView]
    missing_official_calendar_years: tuple[int, ...] = ()


def _target_text(clock: SlaClock, calendar: BusinessCalendar) -> str:
    """The platform's clock runs to the instant the platform set (its budget is only what was
    left when the message came, e.g. "23.9993 h"): say so, with that instant, local time."""
    if clock.name is not ClockName.PLATFORM:
        return clock.target.describe()
    due = clock.due_at.astimezone(calendar.zone).strftime("%Y-%m-%d %H:%M")
    return f"由平台设定，截至 {due} / set by the platform, due {due} ({calendar.timezone})"


def sla_view(
    clocks: dict[ClockName, SlaClock], policy: SlaPolicy, calendar: BusinessCalendar, now: datetime
) -> SlaView:
    views = [
        ClockView(
            name=clock.name,
            state=clock.state,
            target=_target_text(clock, calendar),
            started_at=clock.started_at,
            due_at=None if clock.state is ClockState.PAUSED else clock.due_at,
            time_left=clock.left(now, calendar),
            paused=clock.state is ClockState.PAUSED,
            warnings_sent=clock.warnings_sent,
            escalation_level=clock.escalation_level,
            breached_at=clock.breached_at,
            met_at=clock.met_at,
            extended_by_platform=clock.extended_by_platform,
        )
        for clock in clocks.values()
    ]
    horizon = [c.due_at for c in clocks.values() if c.open] or [now]
    return SlaView(
        as_of=now,
        policy_version=policy.version,
        calendar_version=calendar.version,
        state=case_sla_state(clocks),
        escalation_level=escalation_level(clocks),
        next_deadline=next_deadline(clocks),
        next_item=next_due(clocks, policy, calendar),
        clocks=views,
        missing_official_calendar_years=calendar.years_without_official_data(now, max(horizon)),
    )
