"""Customers' phone numbers as a look-up key: one spelling per number, and a keyed hash of it.

Agents type a number as the customer says it (`138 1234 5678`, `+86-138-1234-5678`,
`008613812345678`); the record keeps what was typed. To find a case by phone, each number is
brought to E.164 (mainland China when no country code is given) and hashed with HMAC-SHA256
under a secret key (settings `phone_lookup_key`): the indexed column holds that hash only, so
the index holds no phone numbers and, without the key, a hash cannot be tried against the
small space of mobile numbers.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers

# The region a number without a country code belongs to: the business is in mainland China.
DEFAULT_REGION = "CN"
# Development and tests only: production sets PHONE_LOOKUP_KEY (core/settings.py).
DEVELOPMENT_LOOKUP_KEY = b"aftersales-development-phone-lookup-key"


def normalise_phone(phone: str, region: str = DEFAULT_REGION) -> str:
    """`+8613812345678` for every spelling of that number. A string no phone number could be
    (too short, an unknown country code) keeps its digits only (and a leading +), so the same
    typing still finds the same case."""
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    digits = "".join(c for c in phone if c.isdigit())
    return ("+" if phone.strip().startswith("+") else "") + digits


def phone_lookup_hash(phone: str | None, key: bytes) -> str | None:
    """The hex HMAC-SHA256 of the normalised number; None for no number."""
    if not phone or not phone.strip():
        return None
    return hmac.new(key, normalise_phone(phone).encode(), hashlib.sha256).hexdigest()
