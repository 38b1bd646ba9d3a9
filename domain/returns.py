"""Returns and repairs: the waits between authorising one and settling it.

A return (DOMAIN.md step 5: review -> pickup / return label -> quality check on arrival
-> restock -> refund or exchange) and a repair (label / pickup -> arrival -> repair ->
shipped back) share one mechanism: a flow is a sequence of legs; each leg waits for one
signal from the warehouse or logistics system (any one of its alternative steps), by a
deadline counted on the case's business calendar from the end of the previous leg. The
deadlines are data, pinned on a case with its other handling rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.calendar import BusinessCalendar
from domain.case import Actor, AfterReturn, ResolutionType, Role
from domain.sla import Target
from domain.text import OptionalText


class ReturnStep(StrEnum):
    """A signal from logistics or the warehouse; each is a timeline event of the same name."""

    LABEL_ISSUED = "label_issued"  # logistics: a prepaid return label the customer ships with
    PICKUP_BOOKED = "pickup_booked"  # logistics: a courier collects the parcel
    PARCEL_RECEIVED = "parcel_received"  # warehouse: the parcel arrived
    QUALITY_CHECKED = "quality_checked"  # warehouse: passed or failed, with a note
    RESTOCKED = "restocked"  # warehouse: back in stock; the refund or exchange follows
    REPAIRED = "repaired"  # repair centre (warehouse role)
    SHIPPED_BACK = "shipped_back"  # logistics: the repaired item is on its way back


class Leg(BaseModel):
    """One wait of a flow: any of `steps` ends it; `sender` is the system that sends them."""

    model_config = ConfigDict(frozen=True)

    name: str  # the key of its deadline in the pinned rules
    steps: tuple[ReturnStep, ...]
    sender: Role
    waiting_for: str  # what the case says it waits for meanwhile


# Every leg once, one a line; a flow below lists its legs in order (a return and a repair share the first two).
# fmt: off
_SHIPMENT = Leg(name="shipment", steps=(ReturnStep.LABEL_ISSUED, ReturnStep.PICKUP_BOOKED), sender=Role.LOGISTICS, waiting_for="logistics to issue a return label or book a pickup")
_RECEIPT = Leg(name="receipt", steps=(ReturnStep.PARCEL_RECEIVED,), sender=Role.WAREHOUSE, waiting_for="the warehouse to receive the parcel")
_INSPECTION = Leg(name="inspection", steps=(ReturnStep.QUALITY_CHECKED,), sender=Role.WAREHOUSE, waiting_for="the warehouse's quality check of the returned item")
_RESTOCK = Leg(name="restock", steps=(ReturnStep.RESTOCKED,), sender=Role.WAREHOUSE, waiting_for="the warehouse to restock the item")
_REPAIR = Leg(name="repair", steps=(ReturnStep.REPAIRED,), sender=Role.WAREHOUSE, waiting_for="the repair centre to repair the item")
_SHIP_BACK = Leg(name="ship_back", steps=(ReturnStep.SHIPPED_BACK,), sender=Role.LOGISTICS, waiting_for="logistics to ship the repaired item back")
# fmt: on

FLOWS: dict[ResolutionType, tuple[Leg, ...]] = {
    ResolutionType.RETURN: (_SHIPMENT, _RECEIPT, _INSPECTION, _RESTOCK),
    ResolutionType.REPAIR: (_SHIPMENT, _RECEIPT, _REPAIR, _SHIP_BACK),
}
STEPPED_RESOLUTIONS = frozenset(FLOWS)
LEG_NAMES = frozenset(leg.name for legs in FLOWS.values() for leg in legs)

# Steps that name a parcel: without its tracking number nobody can follow it.
TRACKED_STEPS = frozenset({ReturnStep.LABEL_ISSUED, ReturnStep.PICKUP_BOOKED, ReturnStep.SHIPPED_BACK})
# People who may record any step by hand (a system is down, the warehouse phoned it in).
OVERRIDE_ROLES = frozenset({Role.SUPERVISOR, Role.HEAD, Role.ADMIN})


def working_days(days: float) -> Target:
    """N working days of the business calendar (a working day is 9 business hours, as in domain/sla.py)."""
    return Target(budget=timedelta(hours=9 * days), business=True)


def default_return_deadlines() -> dict[str, Target]:
    # DOMAIN.md: a return or exchange takes 3-5 working days from request to completion; the
    # return legs add up to the upper bound. A repair has no figure in the seeds: a week.
    return {
        "shipment": working_days(1),
        "receipt": working_days(2),
        "inspection": working_days(1),
        "restock": working_days(1),
        "repair": working_days(5),
        "ship_back": working_days(1),
    }


def sender_of(step: ReturnStep) -> Role:
    return next(leg.sender for legs in FLOWS.values() for leg in legs if step in leg.steps)


class ReturnStepReport(BaseModel):
    """What a warehouse or logistics system reports with a step (the step is in the path)."""

    tracking_number: OptionalText = Field(
        default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$", description="Label, pickup or shipment"
    )
    passed: bool | None = Field(default=None, description="quality_checked only: did the item pass")
    note: OptionalText = Field(default=None, max_length=2000)

    def problems(self, step: ReturnStep) -> list[tuple[str, str]]:
        """(field, why) for what this step needs or must not carry."""
        found = []
        if step in TRACKED_STEPS and self.tracking_number is None:
            found.append(("tracking_number", f"a {step.value} step needs the tracking number"))
        if step is ReturnStep.QUALITY_CHECKED and self.passed is None:
            found.append(("passed", "a quality check says whether the item passed"))
        if step is not ReturnStep.QUALITY_CHECKED and self.passed is not None:
            found.append(("passed", "only a quality_checked step carries a result"))
        return found


class ReturnStepSignal(ReturnStepReport):
    """A step as the workflow receives it."""

    step: ReturnStep


class StepRecord(BaseModel):
    step: ReturnStep
    at: datetime
    by: str  # who sent it (a key's or person's id)
    tracking_number: str | None = None
    passed: bool | None = None
    late: bool = False


class ReturnProgress(BaseModel):
    """A return or repair under way: where it stands and when the current leg is due."""

    kind: ResolutionType  # return or repair
    key: str  # the approved resolution's key: whatever settles it is keyed by it
    after_return: AfterReturn | None = None  # returns only
    authorised_at: datetime
    done: list[StepRecord] = Field(default_factory=list)
    due_at: datetime | None = None  # the current leg's deadline
    overdue: bool = False  # the current leg's miss is recorded
    failed_inspection: bool = False  # the flow stops: a person decides

    @property
    def legs(self) -> tuple[Leg, ...]:
        return FLOWS[self.kind]

    @property
    def leg(self) -> Leg | None:
        """The leg waited for; None once every leg is done or the flow stopped."""
        if self.failed_inspection or len(self.done) >= len(self.legs):
            return None
        return self.legs[len(self.done)]

    @property
    def complete(self) -> bool:
        return not self.failed_inspection and len(self.done) >= len(self.legs)

    def recorded(self, step: ReturnStep) -> StepRecord | None:
        return next((record for record in self.done if record.step is step), None)

    def start_leg(self, at: datetime, deadlines: dict[str, Target], calendar: BusinessCalendar) -> None:
        """The current leg starts at `at`: its deadline from the pinned rules (none if unpinned)."""
        leg = self.leg
        target = deadlines.get(leg.name) if leg else None
        self.due_at = target.add(calendar, at, target.budget) if target else None
        self.overdue = False

    def advance(self, signal: ReturnStepSignal, actor: Actor, at: datetime) -> StepRecord:
        record = StepRecord(
            step=signal.step,
            at=at,
            by=actor.id,
            tracking_number=signal.tracking_number,
            passed=signal.passed,
            late=self.due_at is not None and at > self.due_at,
        )
        self.done.append(record)
        if signal.step is ReturnStep.QUALITY_CHECKED and signal.passed is False:
            self.failed_inspection = True
        return record

    def refusal(self, step: ReturnStep) -> str | None:
        """Why `step` cannot be recorded now (None: it can)."""
        earlier = self.recorded(step)
        if earlier is not None:
            return f"{step.value} was already recorded at {earlier.at.isoformat()}"
        if self.failed_inspection:
            return (
                "the item failed the quality check: a supervisor decides (follow-up task); no further step is expected"
            )
        leg = self.leg
        if leg is None:
            return f"every step of the {self.kind.value} is recorded; it is being settled"
        if step not in leg.steps:
            expected = " or ".join(s.value for s in leg.steps)
            if all(step not in other.steps for other in self.legs):
                return f"a {self.kind.value} has no {step.value} step; expected next: {expected}"
            return f"expected next: {expected}, not {step.value}"
        return None
