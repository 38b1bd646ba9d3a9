"""What a case waits for, in the person's language. The workflow words it in English for
Temporal UI and the timeline (workflows/case: `Next(stage, "...")`, `waiting_for=...`); the
case page matches each sentence the workflow writes and shows the catalog's wording, with the
names in it (a department, a resolution type) translated too. A sentence not listed here is
shown as the workflow wrote it."""

from __future__ import annotations

import re
from collections.abc import Callable

from console.words import N_

# (the workflow's sentence as a pattern, the catalog's msgid); named groups fill the msgid's
# placeholders, translated when the catalog knows the word (departments, resolution types).
SENTENCES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(pattern), msgid)
    for pattern, msgid in (
        (r"triage by an agent", N_("triage by an agent")),
        (r"triage by an agent \(reopened\)", N_("triage by an agent (reopened)")),
        (r"an? (?P<department>[a-z_]+) handler to accept", N_("a %(department)s handler to accept")),
        (r"handler (?P<handler>.+) to propose a solution plan", N_("handler %(handler)s to propose a solution plan")),
        (r"handler (?P<handler>.+) to revise the plan", N_("handler %(handler)s to revise the plan")),
        (r"the customer's answer", N_("the customer's answer")),
        (r"the customer's satisfaction score", N_("the customer's satisfaction score")),
        (r"the customer's answer to the fix check", N_("the customer's answer to the fix check")),
        (r"the customer's choice: a similar item or a refund", N_("the customer's choice: a similar item or a refund")),
        (r"the fix check on (?P<date>\d{4}-\d{2}-\d{2})", N_("the fix check on %(date)s")),
        (r"approval by the after-sales head", N_("approval by the after-sales head")),
        (r"approval by a module lead", N_("approval by a module lead")),
        (
            r"the after-sales head \(reopened (?P<count>\d+) times\)",
            N_("the after-sales head (reopened %(count)s times)"),
        ),
        (r"the resolution to be carried out", N_("the resolution to be carried out")),
        (r"the (?P<what>[a-z_]+) to be carried out", N_("the %(what)s to be carried out")),
        (r"archiving", N_("archiving")),
        (r"nothing: archived", N_("nothing: archived")),
        (
            r"logistics to issue a return label or book a pickup",
            N_("logistics to issue a return label or book a pickup"),
        ),
        (r"the warehouse to receive the parcel", N_("the warehouse to receive the parcel")),
        (
            r"the warehouse's quality check of the returned item",
            N_("the warehouse's quality check of the returned item"),
        ),
        (r"the warehouse to restock the item", N_("the warehouse to restock the item")),
        (r"the repair centre to repair the item", N_("the repair centre to repair the item")),
        (r"logistics to ship the repaired item back", N_("logistics to ship the repaired item back")),
        (
            r"a supervisor to carry out the (?P<what>[a-z_]+) by hand \(follow-up task\)",
            N_("a supervisor to carry out the %(what)s by hand (follow-up task)"),
        ),
        (
            r"a supervisor to take up the (?P<platform>[a-z_]+) refusal \(follow-up task\)",
            N_("a supervisor to take up the %(platform)s refusal (follow-up task)"),
        ),
        (
            r"a supervisor to decide on the (?P<what>[a-z_]+) after the failed quality check \(follow-up task\)",
            N_("a supervisor to decide on the %(what)s after the failed quality check (follow-up task)"),
        ),
    )
]


def waiting_for(sentence: str, gettext: Callable[[str], str]) -> str:
    """The workflow's `waiting_for` sentence in the catalog's language (as written if unknown)."""
    for pattern, msgid in SENTENCES:
        if found := pattern.fullmatch(sentence):
            return gettext(msgid) % {name: gettext(value) for name, value in found.groupdict().items()}
    return sentence
