"""A refused value is withheld, but the allowed values read as they are in the schema.

Issue 12 §2.2: masking the rejected value inside pydantic's message corrupted the list of
allowed values (`channel: "web"` listed `'***_form'`, `"mail"` listed `'e***'`).
"""

from __future__ import annotations

import httpx
import pytest

from api.problems import _message
from domain.case import Category, Channel
from tests.support.people import AGENT, intake


def allowed(values: list[str]) -> str:
    """Pydantic's wording for an enum: 'a', 'b' or 'c'."""
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + f" or {quoted[-1]}"


CHANNELS = f"Input should be {allowed([c.value for c in Channel])}"


@pytest.mark.parametrize("sent", ["web", "mail", "phone ", "in-store"])
async def test_an_unknown_channel_is_refused_naming_the_field_and_every_allowed_value(
    api: httpx.AsyncClient, sent: str
) -> None:
    response = await api.post("/cases", json=intake(channel=sent), headers=AGENT)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"] == [{"field": "channel", "message": CHANNELS}]
    assert problem["detail"] == f"channel: {CHANNELS}"
    assert "***" not in response.text


async def test_an_unknown_category_lists_the_categories_as_they_are(api: httpx.AsyncClient) -> None:
    number = (await api.post("/cases", json=intake(), headers=AGENT)).json()["number"]
    triage = {"categories": ["quality"], "priority": "P3", "department": "quality"}

    response = await api.post(f"/cases/{number}/triage", json=triage, headers=AGENT)

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error == {"field": "categories.0", "message": f"Input should be {allowed([c.value for c in Category])}"}


def test_a_validators_own_message_still_withholds_what_was_sent() -> None:
    error = {
        "type": "value_error",
        "msg": "Value error, 李四 +86 139 1234 5678 is not a phone",
        "input": "李四 +86 139 1234 5678",
    }
    assert _message(error) == "Value error, *** is not a phone"
    tagged = {
        "type": "union_tag_invalid",
        "msg": "Input tag 'zorblax@example.org' found using 'kind' does not match any of the expected tags: 'photo', 'video'",
        "input": {"kind": "zorblax@example.org"},
        "ctx": {"tag": "zorblax@example.org", "discriminator": "'kind'", "expected_tags": "'photo', 'video'"},
    }
    assert (
        _message(tagged)
        == "Input tag '***' found using 'kind' does not match any of the expected tags: 'photo', 'video'"
    )
