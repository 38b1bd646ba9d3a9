"""Why an action on a case is refused: the one vocabulary the workflow raises and the API maps.

Each value is the `type` of the ApplicationError a refused update fails with, as recorded in
histories and read by api/ (one table from refusal to HTTP status): never rename one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Refusal(StrEnum):
    ACTION_NOT_ALLOWED = "ActionNotAllowed"  # not in this stage, or nothing to act on
    NOT_PERMITTED = "NotPermitted"  # not this person or role
    INVALID_PLAN = "InvalidPlan"
    INVALID_TRIAGE = "InvalidTriage"
    INVALID_EXTENSION = "InvalidExtension"
    INVALID_CHOICE = "InvalidChoice"


class Refused(Exception):
    """A rule in domain/ refuses an action; the workflow fails the update with it."""

    def __init__(self, refusal: Refusal, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
        self.details = details
