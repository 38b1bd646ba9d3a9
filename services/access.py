"""Who may call what: the role x endpoint matrix, in one place.

Every route is listed by method and path template. A route missing here is refused
to everyone (403): forgetting an entry closes a door rather than opening one, and
tests/api/test_access.py walks the app's routes to catch it. Handlers additionally see
only their own department's cases and those it assists (`sees`), and act only on their
own department's (`leads`).

Pure data and predicates (domain + Starlette's path compiler) so the API's dependencies
(api/access.py) and the console (console/actions.py) read the same matrix without the
console importing the API that mounts it.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import compile_path

from domain.case import Actor, Department, Role
from services.notifications import RETRY_ROLES

AGENT, HANDLER, SUPERVISOR, HEAD, ADMIN = Role.AGENT, Role.HANDLER, Role.SUPERVISOR, Role.HEAD, Role.ADMIN
# Internal systems: they report return and repair steps and call nothing else.
WAREHOUSE, LOGISTICS = Role.WAREHOUSE, Role.LOGISTICS
SYSTEMS = frozenset({WAREHOUSE, LOGISTICS})
EVERYONE = frozenset({AGENT, HANDLER, SUPERVISOR, HEAD, ADMIN})

# Routes anyone may call without credentials.
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    # The report page's sign-in (api/pages.py) checks the key it is given itself.
    {
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/readyz"),
        ("GET", "/reports/sign-in"),
        ("POST", "/reports/sign-in"),
        ("POST", "/reports/sign-out"),
        # The customer page: the signed token in the path is the credential (api/customer).
        ("GET", "/c/assets/page.css"),
        ("GET", "/c/{token}"),
        ("POST", "/c/{token}"),
    }
)

# Routes a platform calls without credentials of ours: the route checks the platform's
# signature over the body (api/routes/channels.py) and refuses an unsigned call with 401.
SIGNED: frozenset[tuple[str, str]] = frozenset({("POST", "/channels/douyin/events")})

ACCESS: dict[tuple[str, str], frozenset[Role]] = {
    # Cases: agents record and triage, handlers investigate and plan, supervisors and the head approve.
    ("POST", "/cases"): frozenset({AGENT, SUPERVISOR, HEAD, ADMIN}),
    ("GET", "/cases"): EVERYONE,
    # Issue 15: the suggestion an intake would get, as the agent writes it; finding a case.
    ("POST", "/cases/triage-preview"): frozenset({AGENT, SUPERVISOR, HEAD, ADMIN}),
    ("POST", "/cases/search"): EVERYONE,
    ("GET", "/cases/{number}"): EVERYONE,
    ("GET", "/cases/{number}/timeline"): EVERYONE,
    # Files the customer sent from the customer page (a handler: only their department's cases).
    ("GET", "/cases/{number}/attachments"): EVERYONE,
    ("GET", "/cases/{number}/attachments/{reference}"): EVERYONE,
    ("GET", "/cases/{number}/status"): EVERYONE,
    ("POST", "/cases/{number}/triage"): frozenset({AGENT, SUPERVISOR, HEAD, ADMIN}),
    ("POST", "/cases/{number}/accept"): frozenset({HANDLER, SUPERVISOR, ADMIN}),
    ("POST", "/cases/{number}/notes"): frozenset({AGENT, HANDLER, SUPERVISOR, HEAD, ADMIN}),
    ("POST", "/cases/{number}/info-requests"): frozenset({AGENT, HANDLER, ADMIN}),
    ("POST", "/cases/{number}/customer-replies"): frozenset({AGENT, ADMIN}),
    ("POST", "/cases/{number}/plan"): frozenset({HANDLER, ADMIN}),
    ("POST", "/cases/{number}/approve"): frozenset({SUPERVISOR, HEAD, ADMIN}),
    ("POST", "/cases/{number}/reject"): frozenset({SUPERVISOR, HEAD, ADMIN}),
    ("POST", "/cases/{number}/feedback"): frozenset({AGENT, ADMIN}),
    ("POST", "/cases/{number}/withdraw"): frozenset({AGENT, SUPERVISOR, ADMIN}),
    ("POST", "/cases/{number}/extensions"): frozenset({SUPERVISOR, HEAD, ADMIN}),
    # Issue 4: first-contact answers, duplicates, follow-up tasks, the customer's exchange choice.
    ("POST", "/cases/{number}/first-contact-answer"): frozenset({AGENT, SUPERVISOR, ADMIN}),
    ("POST", "/cases/{number}/duplicate"): frozenset({AGENT, SUPERVISOR, HEAD, ADMIN}),
    ("POST", "/cases/{number}/reassign"): frozenset({SUPERVISOR, HEAD, ADMIN}),
    ("POST", "/cases/{number}/follow-up/complete"): frozenset({SUPERVISOR, HEAD, ADMIN}),
    ("POST", "/cases/{number}/exchange-choice"): frozenset({AGENT, SUPERVISOR, ADMIN}),
    # Returns and repairs: each step from the system that sends it (checked per step by the
    # case), or by a supervisor recording it by hand.
    ("POST", "/cases/{number}/return-steps/{step}"): frozenset({WAREHOUSE, LOGISTICS, SUPERVISOR, HEAD, ADMIN}),
    # Issue 4, result and follow-up: customer service tells the result, calls back, asks whether the fix held.
    ("POST", "/cases/{number}/result-told"): frozenset({AGENT, SUPERVISOR, ADMIN}),
    ("POST", "/cases/{number}/call-back/complete"): frozenset({AGENT, SUPERVISOR, ADMIN}),
    ("POST", "/cases/{number}/fix-check"): frozenset({AGENT, SUPERVISOR, ADMIN}),
    # Multi-department cases: the head names the lead and the assisting departments; a handler
    # of an assisting department contributes, the lead handler may go on without it.
    ("POST", "/cases/{number}/departments"): frozenset({HEAD, ADMIN}),
    ("POST", "/cases/{number}/contributions/{department}"): frozenset({HANDLER, SUPERVISOR, HEAD, ADMIN}),
    ("POST", "/cases/{number}/contributions/{department}/waive"): frozenset({HANDLER, SUPERVISOR, HEAD, ADMIN}),
    # Customer messages: a customer's opt-out of a channel, recorded by whoever hears it.
    ("POST", "/cases/{number}/opt-outs"): EVERYONE,
    # Marketplace after-sales: the decision the case sends to the platform.
    ("POST", "/cases/{number}/platform-decisions"): frozenset({HANDLER, SUPERVISOR, HEAD, ADMIN}),
    ("GET", "/channels/{platform}/after-sales/{after_sale_id}"): EVERYONE,
    # Rules in force: admins only.
    ("POST", "/admin/sla-policies"): frozenset({ADMIN}),
    ("POST", "/admin/calendars"): frozenset({ADMIN}),
    # Operators' and management's views.
    ("GET", "/ops/stuck"): frozenset({SUPERVISOR, HEAD, ADMIN}),
    ("GET", "/ops/notifications"): frozenset({SUPERVISOR, HEAD, ADMIN}),
    ("POST", "/ops/notifications/{notification_id}/retry"): RETRY_ROLES,
    # Temporal UI's codec endpoint: any signed-in caller; only supervisors, the head and admins
    # get payloads decoded, everyone else gets them back still encoded (api/routes/codec.py).
    ("POST", "/codec/decode"): EVERYONE | SYSTEMS,
    ("POST", "/codec/encode"): EVERYONE | SYSTEMS,
    ("GET", "/reports/monthly"): frozenset({SUPERVISOR, HEAD, ADMIN}),
    ("GET", "/reports/monthly.html"): frozenset({SUPERVISOR, HEAD, ADMIN}),
    # Issue 4: the queues of cases escalated or waiting for a supervisor / the after-sales head.
    ("GET", "/queues/supervisor"): frozenset({SUPERVISOR, HEAD, ADMIN}),
    ("GET", "/queues/head"): frozenset({HEAD, ADMIN}),
    # Issue 4: triage rules as versioned data, uploaded and activated by admins.
    ("GET", "/admin/triage-rules"): frozenset({ADMIN}),
    ("GET", "/admin/triage-rules/{version}"): frozenset({ADMIN}),
    ("PUT", "/admin/triage-rules/{version}"): frozenset({ADMIN}),
    ("POST", "/admin/triage-rules/{version}/activate"): frozenset({ADMIN}),
}


# Requests are matched on method and path, not on router internals (which FastAPI versions
# expose differently): each template compiles to the same pattern Starlette routes with.
_PATTERNS = [(method, compile_path(path)[0], roles) for (method, path), roles in ACCESS.items()]


def allowed_roles(method: str, path: str) -> frozenset[Role]:
    """The roles that may call `method path` (a concrete path, e.g. /cases/AS-1/accept)."""
    method = "GET" if method == "HEAD" else method  # HEAD is a GET without the body
    for wanted, pattern, roles in _PATTERNS:
        if wanted == method and pattern.match(path):
            return roles
    return frozenset()


def sees(actor: Actor, department: Department | str | None, assisting: Iterable[Department | str] = ()) -> bool:
    """Handlers see only cases routed to their department, or that their department assists
    (multi-department cases); every other role sees all."""
    if actor.role is not Role.HANDLER:
        return True
    if actor.department is None:
        return False
    mine = actor.department.value
    return (department is not None and str(department) == mine) or any(str(d) == mine for d in assisting)


def leads(actor: Actor, department: Department | str | None) -> bool:
    """Whether `actor` may act on a case routed to `department` as its handler: a handler of
    that department (every other role acts by the matrix alone)."""
    if actor.role is not Role.HANDLER:
        return True
    return actor.department is not None and department is not None and str(department) == actor.department.value
