"""Who acts in the tests, as the identity headers the API reads, and a typical intake."""

from __future__ import annotations

from typing import Any

AGENT = {"X-Actor-Id": "agent-li", "X-Actor-Role": "agent"}
HANDLER = {"X-Actor-Id": "handler-wang", "X-Actor-Role": "handler", "X-Actor-Department": "quality"}
SUPERVISOR = {"X-Actor-Id": "supervisor-zhao", "X-Actor-Role": "supervisor"}
HEAD = {"X-Actor-Id": "head-sun", "X-Actor-Role": "head"}


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


TRIAGE = {"categories": ["product_quality"], "priority": "P2", "department": "quality", "note": "cracked base"}
PLAN = {
    "root_cause": "Batch B2026-10 base seal defect",
    "measures": ["full refund", "quality check of batch B2026-10"],
    "owner": "handler-wang",
    "prevention": "Supplier seal inspection added",
    "resolution": {"type": "refund", "amount": "899.00", "currency": "CNY"},
}
