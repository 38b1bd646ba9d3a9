"""CSV exports of the console's tables: the monthly report's tables and any list of cases.

UTF-8 with a byte-order mark, so the spreadsheet programs people in China open it with (Excel,
WPS) read the Chinese as Chinese. A cell that a spreadsheet would take for a formula (=, +, -,
@, a tab or a carriage return first) gets a leading apostrophe: an order number or a note
cannot run as a formula in whoever opens the file. Case lists carry no personal data: the
customer's name and phone are masked as in every list.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from domain.privacy import mask_name, mask_phone
from store.models import CaseRow

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CASE_COLUMNS = [
    "number", "stage", "priority", "categories", "department", "assignee", "channel", "customer_tier",
    "customer_name", "customer_phone", "order_number", "sku", "sla_state", "escalation_level", "reopen_count",
    "next_deadline", "received_at", "closed_at",
]  # fmt: skip


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_text(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_cell(h) for h in head])
    writer.writerows([_cell(c) for c in row] for row in rows)
    return BOM + out.getvalue()


def _minute(instant: datetime | None, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M") if instant else ""


def cases_csv(rows: Iterable[CaseRow], categories: dict[str, list[str]], timezone: str) -> str:
    """A list of cases, one line each, times in the business timezone to the minute."""
    zone = ZoneInfo(timezone)
    lines = [
        [
            r.number, r.stage, r.priority, " ".join(categories.get(r.number, [])), r.department, r.assignee,
            r.channel, r.customer_tier, mask_name(r.customer_name), mask_phone(r.customer_phone), r.order_number,
            r.sku, r.sla_state, r.escalation_level, r.reopen_count, _minute(r.next_deadline, zone),
            _minute(r.received_at, zone), _minute(r.closed_at, zone),
        ]
        for r in rows
    ]  # fmt: skip
    return csv_text(CASE_COLUMNS, lines)
