"""Signed customer links: one case, one purpose, until the expiry; nothing personal inside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from core.settings import Settings
from services.customer_links import LinkExpired, LinkRefused, Purpose, issue_link, issue_token, verify

SETTINGS = Settings(customer_link_secret=SecretStr("links-test-key"), customer_link_base_url="https://svc.example/")
NUMBER = "AS-20261201-000042"


def test_a_link_carries_the_case_purpose_and_expiry_and_verifies() -> None:
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    link = issue_link(NUMBER, "survey", expires, SETTINGS)
    assert link.startswith(f"https://svc.example/c/{NUMBER}.s.")
    assert len(link.rsplit("/", 1)[1]) < 60  # short enough for an SMS
    claims = verify(link.rsplit("/", 1)[1], SETTINGS)
    assert (claims.case_number, claims.purpose, claims.expires_at) == (NUMBER, Purpose.SURVEY, expires)
    # The same case, purpose and expiry give the same token: a message sent twice carries one link.
    assert issue_token(NUMBER, "survey", expires, SETTINGS) == claims.token


def test_an_altered_foreign_or_expired_token_is_refused() -> None:
    expires = datetime.now(UTC) + timedelta(days=1)
    token = issue_token(NUMBER, Purpose.SURVEY, expires, SETTINGS)
    other_case = token.replace("000042", "000043")
    other_purpose = token.replace(".s.", ".f.")
    foreign = issue_token(NUMBER, Purpose.SURVEY, expires, Settings(customer_link_secret=SecretStr("another-key")))
    for bad in (other_case, other_purpose, foreign, token[:-1] + ("A" if token[-1] != "A" else "B"), "", "x" * 500):
        with pytest.raises(LinkRefused) as refused:
            verify(bad, SETTINGS)
        assert not isinstance(refused.value, LinkExpired), bad
    with pytest.raises(LinkExpired) as expired:
        verify(token, SETTINGS, now=expires + timedelta(seconds=1))
    assert expired.value.claims.case_number == NUMBER


def test_without_a_secret_the_machine_keeps_its_own_key(tmp_path) -> None:
    local = Settings(data_dir=tmp_path)
    token = issue_token(NUMBER, "status", datetime.now(UTC) + timedelta(hours=1), local)
    assert verify(token, Settings(data_dir=tmp_path)).purpose is Purpose.STATUS
    assert (tmp_path / "customer-link.key").stat().st_mode & 0o077 == 0
    with pytest.raises(LinkRefused):
        verify(token, SETTINGS)


def test_logs_keep_the_case_of_a_link_but_not_its_signature() -> None:
    from core.logs import mask_text

    token = issue_token(NUMBER, "survey", datetime.now(UTC) + timedelta(days=1), SETTINGS)
    line = mask_text(f'127.0.0.1:5000 - "GET /c/{token}?lang=en HTTP/1.1" 200')
    assert token.rsplit(".", 1)[1] not in line
    assert f"/c/{token.rsplit('.', 1)[0]}.***?lang=en" in line
