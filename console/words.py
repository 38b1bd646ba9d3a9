"""Words the pages show from data (stages, roles, departments, inbox reasons, clocks, event kinds):
marked here so Babel's extractor puts them in the catalogs, and the catalog test sees them."""

from __future__ import annotations

from domain.case import Category, Channel, CustomerTier, Department, ResolutionType, Role, Stage
from domain.lifecycle import EventKind
from domain.sla import ClockName, ClockState


def N_(message: str) -> str:
    return message


# What an inbox row says to do (services/inbox.py `why`); the rest comes from the domain's enums.
INBOX_REASONS = {
    N_("to_triage"), N_("customer_reply"), N_("result_to_tell"), N_("fix_check"), N_("unclaimed"), N_("mine"),
    N_("contribution"), N_("sla_escalated"), N_("awaiting_approval"), N_("follow_up_task"), N_("reopen_limit"),
    N_("escalated"), N_("call_back_due"), N_("second_rejection"), N_("department_naming"),
}  # fmt: skip


# Why a form came back without acting (console/routes/case.py).
FORM_ERRORS = {N_("not_offered"), N_("unknown_original"), N_("case_finished"), N_("true"), N_("false")}


def form_words() -> set[str]:
    """Every action's title, and every label and choice its form shows."""
    from console.actions import ACTIONS
    from console.forms import departments_fields, fields_of
    from domain.returns import ReturnStep

    words = {"step", "department", *(s.value for s in ReturnStep)}
    words.update(w for f in departments_fields() for w in (f.label, *f.choices))
    for action in ACTIONS.values():
        words.add(f"action:{action.slug}")
        for spec in fields_of(action.model) if action.model else []:
            words.add(spec.label)
            words.update(spec.choices)
    return words


def pages_words() -> set[str]:
    """The labels and choices of the new case and find forms (console/routes/new_case.py, find.py),
    and the reasons the stuck cases page gives."""
    from console.routes.find import CHOICES, TEXT
    from console.routes.new_case import intake_fields
    from services.stuck import StuckReason

    words = set(TEXT) | set(CHOICES) | {reason.value for reason in StuckReason}
    for spec in intake_fields():
        words.add(spec.label)
        words.update(spec.choices)
    for options in CHOICES.values():
        words.update(options)
    return words


def marketplace_words() -> set[str]:
    """What the case page's marketplace card names from the platform link (templates/case.html)."""
    from domain.marketplace import AfterSaleKind, Platform, PlatformStep

    return {
        *(f"platform:{p.value}" for p in Platform),
        *(f"platform-step:{s.value}" for s in PlatformStep),
        *(f"after-sale-kind:{k.value}" for k in AfterSaleKind),
    }


def everything_named() -> set[str]:
    """The values the domain can hand a page, each of which must be in the catalogs."""
    return form_words() | pages_words() | marketplace_words() | FORM_ERRORS | {*(s.value for s in Stage), *(r.value for r in Role), *(d.value for d in Department),
            *(k.value for k in EventKind), *(c.value for c in ClockName), *INBOX_REASONS,
            *(e.value for kind in (Category, Channel, CustomerTier, ResolutionType, ClockState) for e in kind)}  # fmt: skip
