"""The API's side of the access matrix (services/access.py): FastAPI dependencies that refuse
a caller the matrix does not allow, and the problems they answer with. An assisting department's
handler reads the case and contributes for that department, nothing else (`assisting_only`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth import current_actor
from api.problems import Problem
from domain.case import Actor, Department, Role
from services.access import allowed_roles


def _forbidden(actor: Actor, allowed: frozenset[Role]) -> Problem:
    names = ", ".join(sorted(r.value for r in allowed)) or "nobody (the route is not in services/access.py)"
    return Problem(403, "Role not permitted", f"role {actor.role.value} may not do this; allowed: {names}")


async def authorize(request: Request, actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
    """The caller, if the matrix lets their role call this route."""
    allowed = allowed_roles(request.method, request.url.path)
    if actor.role not in allowed:
        raise _forbidden(actor, allowed)
    return actor


def require(*roles: Role):
    """The caller, if the matrix allows it here and it has one of `roles` (admins always do).

    Kept for routes written before the matrix; new routes take `Caller` (api/deps.py).
    """
    wanted = set(roles) | {Role.ADMIN}

    async def check(actor: Annotated[Actor, Depends(authorize)]) -> Actor:
        if actor.role not in wanted:
            raise _forbidden(actor, frozenset(wanted))
        return actor

    return check


def assisting_only(actor: Actor, department: Department | str | None, number: str) -> Problem:
    """The refusal for a handler whose department only assists the case (README, multi-department cases)."""
    mine = actor.department.value if actor.department else "no department"
    lead = str(department) if department is not None else "no department yet"
    return Problem(
        403,
        "Not permitted",
        f"{mine} assists this case, led by {lead}: a {mine} handler reads it and contributes for {mine} only "
        f"(POST /cases/{number}/contributions/{mine}); the lead department's handlers act on it",
        reason="assisting_department",
        department=mine,
        lead_department=lead,
    )
