"""Who verified claims name: the one mapping from a token's or an OpenID Connect ID token's
claims to the person acting. The API's bearer tokens (api/auth.py) and the console's sign-in
(console/auth.py) both use it, so a person is the same actor through either door."""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from domain.case import Actor, Department, Role

PEOPLE_ROLES = frozenset(Role) - {Role.SYSTEM}


class ClaimsRejected(ValueError):
    """The claims name no person of a known role (or a handler without a department)."""


def actor_from_claims(claims: dict[str, Any], s: Settings) -> Actor:
    """The person verified claims name: `sub`, the role claim, and a handler's department claim.
    The API's bearer tokens and the console's OpenID Connect sign-in (console/auth.py) map claims
    by this one function."""
    subject = claims.get("sub")
    try:
        role = Role(claims.get(s.jwt_role_claim))  # type: ignore[arg-type]  # a missing claim raises ValueError too
    except ValueError:
        role = None
    if role not in PEOPLE_ROLES or not isinstance(subject, str) or not 0 < len(subject) <= 64:
        raise ClaimsRejected(
            f"the token needs `sub` and a `{s.jwt_role_claim}` claim of agent, handler, supervisor, head, admin, warehouse or logistics"
        )
    department = None
    if role is Role.HANDLER:
        try:
            department = Department(claims.get(s.jwt_department_claim))  # type: ignore[arg-type]  # None raises ValueError too
        except ValueError:
            raise ClaimsRejected(
                f"a handler's token needs a `{s.jwt_department_claim}` claim naming a department"
            ) from None
    assert role is not None
    return Actor(id=subject, role=role, department=department)
