"""The marketplace decision call, from the case workflow (workflows/case/handlers/marketplace.py).

The adapters are the channel adapters of channels/ (wired by worker.py), seen here only as
the decision call they make: activities do not import channels/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from temporalio import activity

from domain import activities as contract
from domain.marketplace import DecisionOutcome, Platform, PlatformDecision


class DecisionCaller(Protocol):
    async def decide(self, decision: PlatformDecision) -> DecisionOutcome: ...


class MarketplaceActivities(contract.MarketplaceActivities):
    def __init__(self, adapters: Mapping[Platform, DecisionCaller]) -> None:
        self._adapters = dict(adapters)

    @activity.defn(name="platform_decide")
    async def platform_decide(self, decision: PlatformDecision) -> DecisionOutcome:
        adapter = self._adapters.get(decision.platform)
        if adapter is None:
            # No credentials for this platform on this worker: a person must decide on the platform.
            return DecisionOutcome(
                accepted=False,
                platform_code="not_configured",
                platform_message=f"{decision.platform.value} is not configured on this worker",
            )
        outcome = await adapter.decide(decision)
        # Ids and codes only: the platform's message may quote what the buyer wrote.
        activity.logger.info(
            "%s %s on %s %s: %s",
            decision.case_number,
            decision.kind.value,
            decision.platform.value,
            decision.after_sale_id,
            "accepted" if outcome.accepted else f"refused {outcome.platform_code}",
        )
        return outcome

    @property
    def all(self) -> list:
        return [self.platform_decide]
