"""The worker's metrics: the Temporal SDK's runtime metrics and the case counters, on one Prometheus endpoint.

The worker process serves what its Temporal runtime measures (`temporal_*`: workflow and activity
task latencies, slots, sticky cache, poll results) on `WORKER_METRICS_PORT`. The case counters
(`aftersales_*_total`) are created on the same runtime's meter, so one scrape of a worker sees
both, the SDK's documented way to add metrics of one's own.

Counters move where the event is written, never in workflow code (which must stay
deterministic and free of I/O): `record_transition` counts a transition the first time it is
written (a retry that finds it already recorded counts nothing) and, apart, the events a
replacement moved to `superseded_events` (a workflow task that never committed, issue 13), so
what the timelines hold is `aftersales_transitions_total - aftersales_transitions_superseded_total`;
the outbox dispatcher counts its delivery failures. Labels are bounded enums (kind, channel, priority, department, clock,
rung, topic, route): never a case number, a person or anything a customer wrote.

`aftersales_worker_gc_pause_seconds` (by generation) times the process's garbage collections:
a full one stops every case the process holds (measured 0.5–1.7 s with a thousand cached cases,
bench/README.md), and past 2 s Temporal fails the workflow tasks caught in it (TMPRL1101,
"potential deadlock"), so a stall the SDK's own metrics do not show is seen here.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from temporalio.common import MetricCounter, MetricHistogramFloat, MetricMeter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from domain.lifecycle import EventKind
from domain.records import Transition

NONE = "none"  # a label whose value is not set yet (a case not triaged has no priority)


class CaseCounters:
    """The business counters, created once on a meter (the no-op meter until a runtime serves them)."""

    def __init__(self, meter: MetricMeter) -> None:
        def counter(name: str, description: str) -> MetricCounter:
            return meter.create_counter(name, description)

        self.cases_opened = counter("aftersales_cases_opened_total", "Cases opened, by channel and priority")
        self.transitions = counter("aftersales_transitions_total", "Transitions recorded, by kind")
        self.transitions_superseded = counter(
            "aftersales_transitions_superseded_total",
            "Recorded transitions later replaced (a workflow task that never committed), by the replaced kind",
        )
        self.sla_warnings = counter("aftersales_sla_warnings_total", "SLA warnings, by clock, priority and department")
        self.sla_breaches = counter(
            "aftersales_sla_breaches_total", "SLA deadlines missed, by clock, priority and department"
        )
        self.sla_escalations = counter(
            "aftersales_sla_escalations_total",
            "Breached clocks climbing the ladder, by clock, priority, department and rung (2 = second rung)",
        )
        self.route_failures = counter(
            "aftersales_execution_route_failures_total",
            "A resolution's route refused or unreachable, by type and route",
        )
        self.delivery_failures = counter(
            "aftersales_notification_delivery_failures_total",
            "Notification deliveries that failed, by topic and whether the notification gave up (final)",
        )
        self.deliveries = counter("aftersales_notifications_delivered_total", "Notifications delivered, by topic")

    def recorded(self, transition: Transition) -> None:
        """A transition written for the first time."""
        kind = transition.kind
        snapshot = transition.snapshot
        priority = snapshot.priority.value if snapshot.priority else NONE
        self.transitions.add(1, {"kind": kind.value})
        if kind is EventKind.RECEIVED:
            channel = transition.intake.channel.value if transition.intake else NONE
            self.cases_opened.add(1, {"channel": channel, "priority": priority})
        elif kind in (EventKind.SLA_WARNING, EventKind.SLA_BREACHED, EventKind.SLA_ESCALATED):
            data = transition.data
            department = data.get("department") or (snapshot.department.value if snapshot.department else NONE)
            labels = {"clock": str(data.get("clock", NONE)), "priority": priority, "department": str(department)}
            if kind is EventKind.SLA_WARNING:
                self.sla_warnings.add(1, labels)
            elif kind is EventKind.SLA_BREACHED:
                self.sla_breaches.add(1, labels)
            else:
                self.sla_escalations.add(1, labels | {"rung": str(data.get("escalation_level", NONE))})
        elif kind is EventKind.EXECUTION_ROUTE_FAILED:
            data = transition.data
            self.route_failures.add(
                1, {"resolution": str(data.get("resolution", NONE)), "route": str(data.get("route") or "default")}
            )

    def superseded(self, kinds: list[str]) -> None:
        """Events moved to `superseded_events`: each was counted in `aftersales_transitions_total`
        when first written, and its replacement is counted there too, so the timeline holds
        transitions_total minus this."""
        for kind in kinds:
            self.transitions_superseded.add(1, {"kind": kind})

    def delivery_failed(self, topic: str, final: bool) -> None:
        self.delivery_failures.add(1, {"topic": topic, "final": "true" if final else "false"})

    def delivered(self, topic: str) -> None:
        self.deliveries.add(1, {"topic": topic})


GC_PAUSE = "aftersales_worker_gc_pause_seconds"
# Seconds; a pause near 2 s is the one that matters (Temporal's deadlock detector), so the
# buckets are fine around it rather than the SDK's default latency buckets.
GC_PAUSE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 5.0)


class GcPauses:
    """Times each garbage collection of this process (`gc.callbacks`) into a histogram by
    generation. One instance is installed at a time; collections never nest (the interpreter
    runs one at a time, holding the GIL), so one start instant is enough."""

    def __init__(self, meter: MetricMeter) -> None:
        histogram = meter.create_histogram_float(
            GC_PAUSE, "Wall time the process stood still in a garbage collection, by generation", "s"
        )
        # Bound once: the callback runs inside the collector and should allocate as little as it can.
        self._by_generation: tuple[MetricHistogramFloat, ...] = tuple(
            histogram.with_additional_attributes({"generation": str(generation)}) for generation in range(3)
        )
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._by_generation[info["generation"]].record(time.perf_counter() - self._started)

    def install(self) -> None:
        """Replaces any GcPauses installed before (a process serves one runtime's metrics)."""
        gc.callbacks[:] = [callback for callback in gc.callbacks if not isinstance(callback, GcPauses)]
        gc.callbacks.append(self)


_counters = CaseCounters(MetricMeter.noop)


def counters() -> CaseCounters:
    """This process's case counters; no-ops unless `metrics_runtime` made a runtime that serves them."""
    return _counters


def metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime serving Prometheus metrics on `bind_address` (host:port); the case
    counters of this process are served there from now on. The client the worker uses must be
    connected with it (`core.temporal_client.connect(settings, runtime=...)`).

    Durations are in seconds (`_seconds`-free names as the SDK documents them, values in
    seconds) so the alert rules read like every other Prometheus latency. The process's garbage
    collections are timed from now on too (`GcPauses`)."""
    global _counters
    runtime = Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=bind_address,
                durations_as_seconds=True,
                histogram_bucket_overrides={GC_PAUSE: GC_PAUSE_BUCKETS},
            ),
        )
    )
    _counters = CaseCounters(runtime.metric_meter)
    GcPauses(runtime.metric_meter).install()
    return runtime
