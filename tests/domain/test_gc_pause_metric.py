"""The worker's garbage-collection pauses on its metrics endpoint (`aftersales_worker_gc_pause_seconds`,
core/metrics.py): a full collection stops every case the process holds, and past 2 s Temporal
fails the workflow tasks caught in it, so operators see the pauses beside the SDK's latencies."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import httpx
import pytest

import core.metrics
from core.metrics import GC_PAUSE, GC_PAUSE_BUCKETS, GcPauses, metrics_runtime
from tests.support.observability import samples, total
from tests.support.processes import free_port


@pytest.fixture
def quiet_collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only the test's own collections happen (automatic ones would add to the counts), and the
    process's callbacks and counters are as they were afterwards."""
    monkeypatch.setattr(core.metrics, "_counters", core.metrics.counters())
    callbacks = list(gc.callbacks)
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.callbacks[:] = callbacks


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return samples(httpx.get(url, timeout=10).text)


@pytest.mark.usefixtures("quiet_collector")
def test_each_full_collection_is_timed_with_the_pause_it_made() -> None:
    port = free_port()
    runtime = metrics_runtime(f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}/metrics"
    heap = [[index] for index in range(300_000)]  # something for a full collection to walk
    gc.collect(2)
    before = scrape(url)

    started = time.perf_counter()
    for _ in range(3):
        gc.collect(2)
    walled = time.perf_counter() - started
    after = scrape(url)

    def grew(name: str) -> float:
        return total(after, name, generation="2") - total(before, name, generation="2")

    assert grew(f"{GC_PAUSE}_count") == 3
    assert 0 < grew(f"{GC_PAUSE}_sum") <= walled  # the pauses themselves, in seconds
    assert total(after, f"{GC_PAUSE}_count", generation="0") == 0  # by generation, none collected
    bounds = {float(labels["le"]) for labels, _ in after[f"{GC_PAUSE}_bucket"] if labels["le"] != "+Inf"}
    assert bounds == set(GC_PAUSE_BUCKETS)  # buckets around Temporal's 2 s, not the SDK's defaults
    assert len(heap) == 300_000
    del runtime


@pytest.mark.usefixtures("quiet_collector")
def test_a_new_runtime_replaces_the_timer_rather_than_adding_one() -> None:
    first = metrics_runtime(f"127.0.0.1:{free_port()}")
    second = metrics_runtime(f"127.0.0.1:{free_port()}")
    assert sum(isinstance(callback, GcPauses) for callback in gc.callbacks) == 1
    del first, second
