"""Stock for exchanges: is the item there, and which similar items are.

`LocalStock` (default) knows no inventory and says every item is in stock, so an
exchange goes ahead as before; an inventory integration implements `StockService`.
"""

from __future__ import annotations

from typing import Protocol

from domain.case import StockCheck


class StockService(Protocol):
    async def check(self, sku: str) -> StockCheck:
        """Whether `sku` can be sent, and similar items in stock when it cannot."""


class LocalStock:
    async def check(self, sku: str) -> StockCheck:
        return StockCheck(sku=sku, in_stock=True)
