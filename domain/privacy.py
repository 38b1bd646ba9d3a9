"""Masking of personal data for logs, lists and reports."""

from __future__ import annotations


def mask_name(name: str | None) -> str | None:
    """Keep the first character: 张三丰 -> 张**, Alice -> A****."""
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_phone(phone: str | None) -> str | None:
    """Keep the last four digits behind a fixed-width mask, so not even the length shows:
    +86 138 0013 8000 -> *******8000."""
    if not phone:
        return phone
    digits = "".join(c for c in phone if c.isdigit())
    return "*******" + digits[-4:]


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return email
    local, _, domain = email.partition("@")
    return f"{local[0]}***@{domain}"
