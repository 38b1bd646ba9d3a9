"""After the resolution (DOMAIN.md steps 6 and 7): the customer is told the result, an
unhappy customer is called back by a person, and a week after closing the customer is
asked whether the fix held."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.case import Channel
from domain.sla import Target
from domain.text import OptionalText, Text


class ResultTold(BaseModel):
    """An agent told the customer the result: what was done and what follow-up to expect."""

    channel: Channel = Field(description="How the customer was told (phone, chat, e-mail, ...)")
    summary: Text = Field(min_length=1, max_length=5000, description="The result as the customer heard it")
    follow_up: OptionalText = Field(
        default=None, max_length=2000, description="The follow-up the customer was promised (e.g. a check in a week)"
    )


class CallBackTask(BaseModel):
    """A person calls the customer back: after a score of 3 or less, or a fix that did not hold.
    At most one is open per case; its deadline is the `call_back` clock."""

    reason: str  # why, in words without personal data: "survey score 2", "the fix did not hold"
    created_at: datetime
    due_at: datetime | None = None  # None when the case's pinned policy sets no call-back deadline


class CallBackCompletion(BaseModel):
    """An agent called the customer back and records how it went."""

    outcome: Text = Field(min_length=1, max_length=2000, description="What the customer said and what was agreed")


class FixCheckStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for the day to ask
    SENT = "sent"  # asked; waiting for the customer's answer
    HELD = "held"
    NOT_HELD = "not_held"  # the case was reopened
    UNANSWERED = "unanswered"  # the answer window closed; the case was archived


class FixCheck(BaseModel):
    """The follow-up step after a satisfied close: does the fix still hold?"""

    ask_at: datetime  # closing + HandlingRules.fix_check_after_days (calendar days)
    answer_within: Target  # the customer's window once asked, from the policy pinned at closing
    status: FixCheckStatus = FixCheckStatus.SCHEDULED
    sent_at: datetime | None = None
    answered_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.status in (FixCheckStatus.SCHEDULED, FixCheckStatus.SENT)


class FixCheckAnswer(BaseModel):
    """The customer's answer to the fix check, recorded by an agent; "no" reopens the case."""

    held: bool
    comment: OptionalText = Field(default=None, max_length=5000)
