"""Logs mask phone numbers and e-mail addresses in every record, whoever logs it."""

from __future__ import annotations

import logging

import pytest

from core.logs import install_masking, mask_text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call +86 138 0013 8000 now", "call *******8000 now"),
        ("phone 13800138000.", "phone *******8000."),
        ("(010) 6552-1234", "*******1234"),
        ("138-0013-8000", "*******8000"),
        ("mail zhang.san@example.com, ok", "mail z***@example.com, ok"),
    ],
)
def test_phones_and_emails_are_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # Issue 13 §8: paths are masked piece by piece, decoded first, and the rest stays readable.
        ('"GET /cases/13976543210 HTTP/1.1" 404', '"GET /cases/*******3210 HTTP/1.1" 404'),
        ("/cases/%2B86%20139%207654%203210", "/cases/*******3210"),
        ("/cases/zorblax%40example.org/timeline", "/cases/z***@example.org/timeline"),
        ("/cases?x=a@b.org", "/cases?x=a***@b.org"),
        ("/cases?status=open&q=%2B86+139+7654+3210", "/cases?status=open&q=*******3210"),
        (
            "GET http://127.0.0.1:8000/cases/13976543210?limit=50",
            "GET http://127.0.0.1:8000/cases/*******3210?limit=50",
        ),
        ("unhandled KeyError on GET /cases/13976543210", "unhandled KeyError on GET /cases/*******3210"),
        ("{'path': '/cases/13976543210'}", "{'path': '/cases/*******3210'}"),
    ],
)
def test_phones_and_emails_in_urls_are_masked_after_decoding(text: str, masked: str) -> None:
    assert mask_text(text) == masked
    assert mask_text(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "GET /cases/AS-20261123-000001/timeline?status=open&limit=50 HTTP/1.1",
        'File "/usr/lib/python3.11/asyncio/base_events.py", line 691',
        "AS-20261123-000001 #3 recorded",  # a case number is not a phone
        "polling on 127.0.0.1:7233",
        "due 2026-11-23T10:00",
        "archived on 2026-11-23",
        "run 0192f3a4-1234-5678-9abc-def012345678",
        "took 1234 ms, attempt 3",
    ],
)
def test_what_is_not_personal_stays_readable(text: str) -> None:
    assert mask_text(text) == text


def test_every_logger_and_handler_sees_masked_records(caplog: pytest.LogCaptureFixture) -> None:
    install_masking()
    install_masking()  # idempotent
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("temporalio.worker._workflow_instance").debug("input %s", {"phone": "+86 139 1234 5678"})
        logging.getLogger("api.anything").info("reply to %s", "li.si@example.cn")
        try:
            raise ValueError("bad phone 13912345678")
        except ValueError:
            logging.getLogger("uvicorn.error").exception("failed")
    text = caplog.text
    assert "1234 5678" not in text and "13912345678" not in text and "li.si@" not in text
    assert "*******5678" in text and "l***@example.cn" in text
