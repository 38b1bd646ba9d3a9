"""Finding a case: by number, order number, the customer's phone, SKU, the day it was received,
assignee, SLA state, stage (and the listing's priority, department, category), a page at a time.

What the API's `POST /cases/search` and the console's find page share. The phone is brought to
E.164 and looked up through its keyed hash (domain/phone.py): the query, the index and the
request line never carry the number. A handler finds only their department's cases and those it
assists, as in every list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from domain.case import Actor, Category, Department, Priority, Role, Stage
from domain.sla import SlaState
from domain.text import OptionalText
from store.case_reads import CaseFilter
from store.cases import CaseStore
from store.models import CaseRow

# The largest offset the record's INTEGER columns count to (PostgreSQL's is 32-bit).
MAX_OFFSET = 2**31 - 1
# As Customer.phone (domain/case.py) accepts it: a number as people type it.
PHONE_PATTERN = r"^\+?[0-9 ()-]{5,20}$"
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(9998, 12, 31)


class CaseSearch(BaseModel):
    """Every criterion is optional; the ones given must all match. Dates are days on the business
    calendar, both ends included."""

    model_config = ConfigDict(extra="forbid")

    number: OptionalText = Field(default=None, min_length=1, max_length=32, description="The case number, exactly")
    order_number: OptionalText = Field(default=None, min_length=1, max_length=64)
    phone: OptionalText = Field(
        default=None, pattern=PHONE_PATTERN, description="The customer's phone, however spelt (+86 138..., 138...)"
    )
    sku: OptionalText = Field(default=None, min_length=1, max_length=64)
    # Bounded so the range's instants exist in every timezone (date.max + 1 day would not).
    received_from: date | None = Field(
        default=None, ge=FIRST_DAY, le=LAST_DAY, description="Received on or after this day"
    )
    received_to: date | None = Field(
        default=None, ge=FIRST_DAY, le=LAST_DAY, description="Received on or before this day"
    )
    assignee: OptionalText = Field(default=None, min_length=1, max_length=64)
    sla_state: SlaState | None = None
    stage: Stage | None = None
    priority: Priority | None = None
    department: Department | None = None
    category: Category | None = None
    limit: int = Field(default=20, ge=1, le=100)
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET)

    @field_validator("received_to")
    @classmethod
    def _range_in_order(cls, day: date | None, info: ValidationInfo) -> date | None:
        # A field validator (received_from comes first), so the refusal names received_to.
        start = info.data.get("received_from")
        if day is not None and start is not None and day < start:
            raise ValueError(f"before received_from ({start.isoformat()})")
        return day

    def blank(self) -> bool:
        return not any(v is not None for k, v in self if k not in ("limit", "offset"))


@dataclass(frozen=True)
class Found:
    rows: list[CaseRow]
    categories: dict[str, list[str]]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        return self.offset + self.limit if self.offset + self.limit < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(self.offset - self.limit, 0) if self.offset > 0 else None


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


async def search_cases(store: CaseStore, actor: Actor, search: CaseSearch, timezone: str) -> Found:
    """The page of cases `search` asks for, newest received first, as `actor` may see them."""
    visible_to = None
    if actor.role is Role.HANDLER:
        if actor.department is None or (search.department is not None and search.department != actor.department):
            return Found([], {}, 0, search.limit, search.offset)
        visible_to = actor.department.value
    zone = ZoneInfo(timezone)
    filters = CaseFilter(
        stage=search.stage and search.stage.value,
        priority=search.priority and search.priority.value,
        department=search.department and search.department.value,
        category=search.category and search.category.value,
        visible_to=visible_to,
        number=search.number.strip().upper() if search.number else None,
        order_number=search.order_number.strip() if search.order_number else None,
        phone_hash=store.phone_lookup(search.phone) if search.phone else None,
        sku=search.sku.strip() if search.sku else None,
        assignee=search.assignee.strip() if search.assignee else None,
        sla_state=search.sla_state and search.sla_state.value,
        received_from=_midnight(search.received_from, zone) if search.received_from else None,
        received_before=_midnight(search.received_to + timedelta(days=1), zone) if search.received_to else None,
    )
    rows, total = await store.list_cases(filters, search.limit, search.offset)
    categories = await store.categories([row.number for row in rows])
    return Found(rows, categories, total, search.limit, search.offset)


async def search_all(store: CaseStore, actor: Actor, search: CaseSearch, timezone: str, cap: int) -> Found:
    """Every case `search` finds, up to `cap`, from its first (for an export, not a page)."""
    rows: list[CaseRow] = []
    categories: dict[str, list[str]] = {}
    offset, total = 0, 0
    while offset < cap:
        found = await search_cases(store, actor, search.model_copy(update={"limit": 100, "offset": offset}), timezone)
        rows += found.rows
        categories |= found.categories
        total = found.total
        if found.next_offset is None:
            break
        offset = found.next_offset
    return Found(rows[:cap], categories, total, cap, 0)
