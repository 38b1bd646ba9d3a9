"""Links to the customer page in messages that ask the customer something.

The customer page (`/c/{token}`) signs a link for one case and one purpose, expiring with its
window (services/customer_links.py). The worker plugs it in (worker.py `customer_links`); where
nothing is plugged in, `customer_link` gives None and messages go out without a link.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

# What the customer is asked, by notification topic: the link's purpose.
PURPOSES = {
    "answer_and_survey": "survey",
    "result_and_survey": "survey",
    "fix_check": "fix_check",
    "info_request": "info_request",
}

LinkMaker = Callable[[str, str, datetime], "str | None"]


def customer_link(case_number: str, purpose: str, expires_at: datetime) -> str | None:
    """The signed link for `purpose` on this case, valid until `expires_at`; None while there is no page."""
    return None
