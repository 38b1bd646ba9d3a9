"""What a request may carry as text and as money: one type each, used by every request model.

Text: no control characters but tab and newline (a carriage return of a CRLF line end too).
A NUL in a description, say, is refused here with a 422 naming the field: PostgreSQL cannot
store it in a text column, so it would otherwise fail deep in the workflow's activities and
retry for ever. C1 controls (U+0080-U+009F) are refused too; they are never meant as text.

Amount: a decimal written in ASCII digits. JSON numbers reach it as `Decimal` (api/json.py
parses them so), never as a float that rounds 899.0000000000000001 to 899.0; a string in
Arabic-Indic or full-width digits, which Python's `Decimal` would read, is refused; an
exponent form such as 1e3 is kept as the plain 1000 so it is not echoed back as "1E+3".
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ASCII_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

CONTROL_CHARACTER = "control characters other than tab and newline are not allowed"


def _no_control_characters(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValueError(CONTROL_CHARACTER)
    return value


def _ascii_number(value: Any) -> Any:
    if isinstance(value, str) and not _ASCII_NUMBER.fullmatch(value.strip()):
        raise ValueError("an amount is a number written with the digits 0-9")
    if isinstance(value, float):
        # Only a caller that bypasses the API's JSON parsing (api/json_body.py) sends a float:
        # read by the digits Python prints for it (899.5, not 899.5000000000000000277...).
        return Decimal(repr(value))
    return value


def _plain(value: Decimal) -> Decimal:
    # Decimal("1e3") prints as "1E+3"; a positive exponent is a whole number, written out.
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


# Checked before the string's own constraints, so Field(max_length=..., pattern=...) where a
# field is declared still applies as a string's (with "| None" outside, it would not).
Text = Annotated[str, BeforeValidator(_no_control_characters)]
"""Free text from a request: bound it with Field(max_length=...) where it is used."""

OptionalText = Annotated[str | None, BeforeValidator(_no_control_characters)]
"""Text that may be left out (write this, not `Text | None`, to keep the field's constraints)."""

Line = Annotated[str, StringConstraints(min_length=1, max_length=2000), BeforeValidator(_no_control_characters)]
"""One item of a list of text (a plan's measures): bounded here, as a list's items take no Field."""

Amount = Annotated[
    Decimal, BeforeValidator(_ascii_number), Field(ge=0, max_digits=12, decimal_places=2), AfterValidator(_plain)
]
"""Money from a request: at most 9,999,999,999.99, in cents at most."""
