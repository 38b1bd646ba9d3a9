"""Who acts in the tests, as real credentials (JWTs signed with the tests' secret), and a typical intake.

The test settings (conftest) accept tokens signed with TEST_JWT_SECRET for the
default issuer and audience, so each dict below is the headers a person sends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from domain.case import Actor, Department, Role

TEST_JWT_SECRET = "aftersales-tests-only-hs256-secret-0123456789"
ISSUER, AUDIENCE = "aftersales", "aftersales-api"


def token(sub: str, role: str, department: str | None = None, *, secret: str = TEST_JWT_SECRET, **claims: Any) -> str:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "sub": sub,
        "role": role,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + timedelta(days=2),
    }
    if department:
        body["department"] = department
    return jwt.encode(body | claims, secret, algorithm="HS256")


def person(sub: str, role: str, department: str | None = None) -> dict[str, str]:
    """The headers `sub`, acting as `role`, sends."""
    return {"Authorization": f"Bearer {token(sub, role, department)}"}


def handler(department: str, sub: str = "handler-wang") -> dict[str, str]:
    """A handler of `department` (handler-wang works in quality by default)."""
    return person(sub, "handler", department)


AGENT = person("agent-li", "agent")
HANDLER = handler("quality")
OTHER_HANDLER = handler("logistics", "handler-zhou")  # another department's handler
SUPERVISOR = person("supervisor-zhao", "supervisor")
HEAD = person("head-sun", "head")
ADMIN = person("admin-chen", "admin")
# Internal systems reporting return and repair steps (they use API keys in production).
WAREHOUSE = person("wms-east", "warehouse")
LOGISTICS = person("tms-courier", "logistics")

AGENT_ACTOR = Actor(id="agent-li", role=Role.AGENT)
HANDLER_ACTOR = Actor(id="handler-wang", role=Role.HANDLER, department=Department.QUALITY)
SUPERVISOR_ACTOR = Actor(id="supervisor-zhao", role=Role.SUPERVISOR)
HEAD_ACTOR = Actor(id="head-sun", role=Role.HEAD)


def intake(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "phone",
        "customer": {"name": "张三丰", "phone": "+86 138 0013 8000", "tier": "normal"},
        "order": {"number": "ORD-778812", "paid_amount": "899.00", "currency": "CNY"},
        "product": {"sku": "KETTLE-1L", "model": "K1", "batch": "B2026-10", "serial_number": "SN-0042"},
        "description": "The kettle is leaking and the base cracked after two days.",
        "occurred_at": "2026-11-20T09:15:00+08:00",
        "demands": ["refund"],
        "evidence": [{"kind": "photo", "uri": "s3://evidence/kettle-crack.jpg"}],
    }
    body.update(overrides)
    return body


# The intake above is suggested P1 ("safety hazard: leaking"): triaging it lower needs a reason.
OVERRIDE_REASON = "water leaks from the cracked base only, away from the heater: no electric hazard"
TRIAGE = {
    "categories": ["product_quality"],
    "priority": "P2",
    "department": "quality",
    "note": "cracked base",
    "override_reason": OVERRIDE_REASON,
}
PLAN = {
    "root_cause": "Batch B2026-10 base seal defect",
    "measures": ["full refund", "quality check of batch B2026-10"],
    "owner": "handler-wang",
    "prevention": "Supplier seal inspection added",
    "resolution": {"type": "refund", "amount": "899.00", "currency": "CNY"},
}
