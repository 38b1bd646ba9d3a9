"""Reconciliation of marketplace after-sales: what the platforms' list APIs show against what
our record holds, so a push or TMC message that never arrived is repaired within the window.

Pure models shared by the schedule (core/temporal_setup.py), the workflow
(workflows/reconciliation.py) and its activity (activities/reconciliation.py).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.marketplace import Platform


class ReconcileRequest(BaseModel):
    """One scheduled run: the platforms configured when the schedule was written, and how far back to read."""

    platforms: list[Platform] = Field(default_factory=list, max_length=len(Platform))
    window_minutes: int = Field(default=30, ge=1, le=1440)


class PlatformWindow(BaseModel):
    platform: Platform
    since: datetime
    until: datetime


class PlatformRepair(BaseModel):
    """What one platform's run found and repaired; after-sale ids only (never personal data)."""

    platform: Platform
    listed: int = 0  # after-sales the platform shows changed in the window
    opened: list[str] = Field(default_factory=list)  # after-sales that had no case: one opened (or held)
    updated: list[str] = Field(default_factory=list)  # cases whose platform status lagged: brought up to date
    failed: list[str] = Field(default_factory=list)  # after-sales the intake could not take this time
    error: str | None = None  # the platform could not be read at all (the next run tries again)

    @property
    def repaired(self) -> int:
        return len(self.opened) + len(self.updated)


class ReconcileReport(BaseModel):
    since: datetime
    until: datetime
    # Messages recorded but never applied (the process answered the platform, then stopped),
    # applied by the run's sweep before the platforms are read.
    unapplied_applied: int = 0
    unapplied_error: str | None = None  # the sweep failed this time (the next run sweeps again)
    platforms: list[PlatformRepair] = Field(default_factory=list)

    @property
    def repaired(self) -> int:
        return sum(p.repaired for p in self.platforms)

    def summary(self) -> str:
        if not self.platforms:
            return "No marketplace configured: nothing to reconcile."
        parts = [
            f"{p.platform.value}: {p.listed} listed, {len(p.opened)} opened, {len(p.updated)} updated"
            + (f", {len(p.failed)} failed" if p.failed else "")
            + (f" (not read: {p.error})" if p.error else "")
            for p in self.platforms
        ]
        sweep = f"{self.unapplied_applied} recorded messages applied" + (
            f" (sweep failed: {self.unapplied_error})" if self.unapplied_error else ""
        )
        return (
            f"Reconciled {self.since.isoformat(timespec='minutes')} to {self.until.isoformat(timespec='minutes')}: "
            + "; ".join([sweep, *parts])
        )
