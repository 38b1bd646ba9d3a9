"""The rules a new case is pinned to: the newest uploaded versions, read in one statement per
case, each version's body read and validated once per process (issue 19 §3: POST /cases)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from bench._server import QueryCounter
from domain.calendar import BusinessCalendar
from domain.sla import SlaPolicy
from services.sla_rules import SlaRulebook
from store.db import session_factory
from store.rules import RulesStore
from tests.conftest import Database

pytestmark = pytest.mark.usefixtures("built_in_rules_afterwards")


async def test_each_case_reads_the_newest_versions_in_one_statement(database: Database) -> None:
    rules = RulesStore(session_factory(database.engine))
    rulebook = SlaRulebook(rules)
    now = datetime.now(UTC)

    policy, calendar = await rulebook.pinned_for(now)
    assert (policy, calendar) == (SlaPolicy(), rulebook.default_calendar(now.year))  # nothing uploaded

    first = SlaPolicy(version=f"first-{uuid.uuid4().hex[:6]}", warn_at=[0.5])
    assert await rules.add_policy(first, "admin-chen")
    assert (await rulebook.pinned_for(now))[0] == first

    statements = QueryCounter(database.engine)
    try:
        for _ in range(3):
            assert (await rulebook.pinned_for(now))[0] == first
        # The body of `first` was read once, above: each later case costs the one read of names.
        assert statements.total == 3, statements.by_verb
    finally:
        statements.close()

    # A newer upload is pinned on the very next case, here and in any other process.
    second = SlaPolicy(version=f"second-{uuid.uuid4().hex[:6]}", warn_at=[0.6])
    days = BusinessCalendar.model_validate(
        rulebook.default_calendar(now.year).model_dump() | {"version": f"cal-{uuid.uuid4().hex[:6]}"}
    )
    assert await rules.add_policy(second, "admin-chen")
    assert await rules.add_calendar(days, "admin-chen")
    assert await rulebook.pinned_for(now) == (second, days)
    assert await SlaRulebook(rules).pinned_for(now) == (second, days)
