"""What reconciliation compares a platform's list with: each after-sale's link and the platform
status its case last applied (the platform_links table, written by the intake)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models import PlatformLinkRow


class LinkStates:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def statuses(self, platform: str, after_sale_ids: list[str]) -> dict[str, str | None]:
        """The platform status last applied, for each of the after-sales that has a case."""
        found: dict[str, str | None] = {}
        async with self._sessions() as session:
            for start in range(0, len(after_sale_ids), 500):  # bounded IN lists
                rows = await session.execute(
                    select(PlatformLinkRow.after_sale_id, PlatformLinkRow.status).where(
                        PlatformLinkRow.platform == platform,
                        PlatformLinkRow.after_sale_id.in_(after_sale_ids[start : start + 500]),
                    )
                )
                found.update({after_sale_id: status for after_sale_id, status in rows})
        return found
