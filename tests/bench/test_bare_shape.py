"""The bare baseline has the shape of a case's closed loop (bench/README.md, "The two sides"):
one bare and one product closed loop on the test server, their histories counted alike."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench import bare
from bench._drive import lifecycle_bare, lifecycle_client, pinned
from bench._harness import fresh_database, inprocess_workers
from bench._history import shape


async def test_bare_closed_loop_has_the_products_shape(env: WorkflowEnvironment, tmp_path: Path) -> None:
    async with fresh_database(tmp_path) as db, inprocess_workers(env.client, db.url):
        policy, calendar = await pinned(db.engine)
        case = await lifecycle_client(env.client, db.engine, policy, calendar)
        baseline = await lifecycle_bare(env.client, db.engine)
        product_history = await env.client.get_workflow_handle(case.number).fetch_history()
        bare_history = await env.client.get_workflow_handle(baseline.number).fetch_history()

    product, bare_side = shape(product_history), shape(bare_history)
    # What the product alone carries, the README names as the product's own cost.
    assert product.search_attribute_upserts > 0 and bare_side.search_attribute_upserts == 0
    assert product.patch_markers > 0 and bare_side.patch_markers == 0
    same = {"search_attribute_upserts": 0, "patch_markers": 0}
    assert replace(bare_side, **same) == replace(product, **same)
    # The numbers the README's table states for both sides.
    assert (bare_side.updates, bare_side.local_activities, bare_side.regular_activities) == (
        bare.UPDATES,
        bare.LOCAL_ACTIVITIES,
        bare.REGULAR_ACTIVITIES,
    )
    assert not bare_side.completed, "both stay open at closed"


def test_bare_runs_in_the_products_sandbox_with_its_own_module_passed_through() -> None:
    from worker import SANDBOX

    runner = bare.bare_sandbox()
    product = SANDBOX.restrictions.passthrough_modules
    assert runner.restrictions.passthrough_modules == product | {"bench"}
    assert {"domain", "workflows", "pydantic"} <= product
    # The rest of the product's restrictions hold for bare too.
    assert runner.restrictions.invalid_module_members == SANDBOX.restrictions.invalid_module_members
