"""Retention: after the record's keeping period, personal data goes; the facts for reports stay.

DOMAIN.md keeps the full record at least three years. Once a case has been
archived longer than that, the customer's name, phone, e-mail and address and
every free text that may quote them (the complaint, notes, questions, replies,
plans, reasons, comments, evidence references) are replaced; case numbers,
dates, stages, categories, priorities, departments, amounts, SKUs and the
timeline's shape stay, so monthly reports over old months still add up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

ANONYMISED = "(anonymised)"
# The timeline event the retention job writes. Not a lifecycle EventKind: the
# workflow never records it, and the replay tests hold EventKind to what it records.
ANONYMISED_EVENT = "personal_data_anonymised"

# Contact details inside any `customer` object.
CUSTOMER_FIELDS = frozenset({"name", "phone", "email", "address"})
# Free text written by or about the customer, wherever it appears in the record.
FREE_TEXT_FIELDS = frozenset(
    {
        "description",
        "text",
        "question",
        "answers",
        "open_question",
        "comment",
        "reason",
        "last_rejection",
        "note",
        "root_cause",
        "measures",
        "prevention",
        "detail",
        "evidence",
        "address",
    }
)


class RetentionPolicy(BaseModel):
    """The RetentionWorkflow's input, as the schedule passes it."""

    years: int = Field(default=3, ge=1)
    batch_size: int = Field(default=200, ge=1, le=5000)


class AnonymiseRequest(BaseModel):
    cutoff: datetime
    retention_years: int
    limit: int


class AnonymiseResult(BaseModel):
    anonymised: int  # counts only: the record says which cases (a timeline event on each)
    expired_keys: int = 0  # idempotency records past IDEMPOTENCY_KEY_DAYS, deleted by the same run


# An Idempotency-Key's stored answer (which may quote a customer's name, phone or a plan) is
# kept this long for repeats, then deleted by the daily retention run; an anonymised case's
# keys go with its personal data, whatever their age.
IDEMPOTENCY_KEY_DAYS = 30


class RetentionReport(BaseModel):
    cutoff: datetime
    anonymised: int


def retention_cutoff(now: datetime, years: int) -> datetime:
    """The same instant `years` calendar years earlier (29 February -> 28 February)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def _blank(value: Any) -> Any:
    # Keep the shape a reader expects: a string stays a string, a list a list, nothing stays nothing.
    if value is None:
        return None
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return ANONYMISED


def scrub(value: Any, key: str | None = None) -> Any:
    """A JSON value with personal data replaced; everything else as it was. Scrubbing twice changes nothing more."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "customer" and isinstance(v, dict):
                out[k] = {
                    ck: (ANONYMISED if ck == "name" and cv is not None else None) if ck in CUSTOMER_FIELDS else cv
                    for ck, cv in v.items()
                }
            elif k in FREE_TEXT_FIELDS:
                out[k] = _blank(v)
            else:
                out[k] = scrub(v, k)
        return out
    if isinstance(value, list):
        return [scrub(v, key) for v in value]
    return value
