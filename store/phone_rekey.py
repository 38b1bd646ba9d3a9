"""Re-hashing the phone look-up column under a new PHONE_LOOKUP_KEY (`aftersales rekey-phones`).

The column holds HMAC-SHA256 of each case's phone under the key (domain/phone.py), so a rotated
key finds nothing until every row is hashed again. Cases keep their phone until retention
anonymises them; those without one (anonymised, or none given) have no hash to redo.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.phone import phone_lookup_hash
from store.models import CaseRow

BATCH = 500


async def rekey_phones(sessions: async_sessionmaker[AsyncSession], key: bytes, batch: int = BATCH) -> int:
    """Hash every stored phone again under `key`, a batch per transaction (by case number, so a
    run that stops part-way and is started again goes through every row); returns the rows changed."""
    changed, after = 0, ""
    while True:
        async with sessions.begin() as session:
            rows = (
                await session.execute(
                    select(CaseRow.number, CaseRow.customer_phone, CaseRow.customer_phone_hash)
                    .where(CaseRow.customer_phone.is_not(None), CaseRow.number > after)
                    .order_by(CaseRow.number)
                    .limit(batch)
                )
            ).all()
            for number, phone, old in rows:
                new = phone_lookup_hash(phone, key)
                if new != old:
                    await session.execute(
                        update(CaseRow).where(CaseRow.number == number).values(customer_phone_hash=new)
                    )
                    changed += 1
        if len(rows) < batch:
            return changed
        after = rows[-1][0]
