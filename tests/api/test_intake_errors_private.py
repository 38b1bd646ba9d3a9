"""A refused intake names the field but never echoes the customer's data back."""

from __future__ import annotations

import httpx
import pytest

from api.problems import _message
from tests.support.people import AGENT, intake

LONG_NAME = "Canary" + "丰" * 120
BAD_PHONE = "+86 138 0013 8000 9999 1234 5"  # too long for a phone
BAD_EMAIL = "zhang san@example.com"


@pytest.mark.parametrize(
    ("customer", "field", "secrets"),
    [
        ({"name": LONG_NAME, "phone": "+86 138 0013 8000"}, "customer.name", [LONG_NAME, "Canary"]),
        ({"name": "张三丰", "phone": BAD_PHONE}, "customer.phone", [BAD_PHONE, "0013 8000", "张三丰"]),
        ({"name": "张三丰", "email": BAD_EMAIL}, "customer.email", [BAD_EMAIL, "zhang san", "张三丰"]),
        ("张三丰 13800138000", "customer", ["张三丰", "13800138000"]),
    ],
)
async def test_invalid_personal_data_is_not_echoed(
    api: httpx.AsyncClient, customer, field: str, secrets: list[str]
) -> None:
    response = await api.post("/cases", json=intake(customer=customer), headers=AGENT)
    assert response.status_code == 422, response.text
    body = response.json()
    assert field in [e["field"] for e in body["errors"]] and field in body["detail"]
    for secret in secrets:
        assert secret not in response.text


async def test_malformed_json_is_not_echoed(api: httpx.AsyncClient) -> None:
    raw = '{"customer": {"name": "Canary张", "phone": "13800138000",}'
    response = await api.post("/cases", content=raw, headers=AGENT | {"Content-Type": "application/json"})
    assert response.status_code == 422
    assert "Canary" not in response.text and "13800138000" not in response.text


def test_a_message_quoting_the_value_is_scrubbed() -> None:
    error = {"msg": "Value error, 李四 +86 139 1234 5678 is not a phone", "input": "李四 +86 139 1234 5678"}
    assert _message(error) == "Value error, *** is not a phone"
    assert _message({"msg": "bad 13912345678", "input": 5}) == "bad *******5678"
