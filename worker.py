"""Starts the case worker: `python worker.py` or `aftersales worker`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.case import CaseActivities
from activities.marketplace import MarketplaceActivities
from activities.reconciliation import ReconciliationActivities
from activities.retention import RetentionActivities
from channels.base import BuyerMessaging
from channels.registry import adapters_from_settings
from channels.taobao.run import intake_from, tmc_consumer
from core.action_signing import action_keys
from core.metrics import metrics_runtime
from core.settings import Settings, get_settings
from core.temporal_client import connect
from core.tracing import start_tracing, trace_engine
from core.worker_version import deployment_config
from delivery.links import LinkMaker
from delivery.marketplace import BuyerSender
from delivery.notify import dispatcher_from_settings
from delivery.resolutions import ResolutionExecutor, executor_from_settings
from delivery.stock import StockService
from domain.marketplace import Platform
from domain.triage import DEFAULT_RULES, TriageRules
from services.customer_links import Purpose, issue_link
from services.file_store import storage_from
from store.cases import CaseStore
from store.db import create_engine, session_factory
from store.files import FileStorage
from store.reconciliation import LinkStates
from store.retention import RetentionStore
from store.triage_rules import DEFAULT_CACHE_SECONDS, ActiveTriageRules, TriageRulesStore
from workflows.answer_form import BriefAnswers
from workflows.case import CaseWorkflow
from workflows.reconciliation import MarketplaceReconciliationWorkflow
from workflows.retention import RetentionWorkflow
from workflows.signed_actions import ActionVerifier

# The domain and the workflow module are pure, and pydantic is heavy to re-import: all
# skip the sandbox. Re-importing workflows/case.py for every case cost ~120 KiB of worker
# memory per cached case (bench/README.md); its purity is kept by review, lint and the
# replay test instead of by the sandbox's import proxies.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        # opentelemetry: Temporal's TracingInterceptor runs inside the workflow when tracing is on.
        "domain",
        "workflows",
        "pydantic",
        "pydantic_core",
        "opentelemetry",
    )
)


# Below the manifests' terminationGracePeriodSeconds (60): the pod is not killed while activities finish.
GRACEFUL_SHUTDOWN = timedelta(seconds=20)


def build_worker(
    client: Client,
    store: CaseStore,
    task_queue: str,
    *,
    triage_rules: TriageRules = DEFAULT_RULES,
    executor: ResolutionExecutor | None = None,
    route_attempts: int = 5,
    stock: StockService | None = None,
    triage_rules_cache_seconds: float = DEFAULT_CACHE_SECONDS,
    marketplaces: dict[Platform, Any] | None = None,
    intake: Any = None,
    signing_keys: Sequence[bytes] | None = None,
    files: FileStorage | None = None,
    **options: Any,
) -> Worker:
    """`signing_keys`: those a case accepts actions signed with (workflows/signed_actions.py); the
    settings' (ACTION_SIGNING_KEY, the development key when unset) unless given."""
    # Uploaded and activated triage rules win over `triage_rules` (the file or the defaults).
    active_rules = ActiveTriageRules(
        TriageRulesStore(store.sessions), triage_rules, ttl_seconds=triage_rules_cache_seconds
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CaseWorkflow, RetentionWorkflow, MarketplaceReconciliationWorkflow],
        activities=CaseActivities(store, executor, active_rules, route_attempts=route_attempts, stock=stock).all
        # Retention deletes the customers' uploads from where they are kept (`files`), as the API stored them.
        + RetentionActivities(RetentionStore(store.sessions, files)).all
        + MarketplaceActivities(marketplaces or {}).all
        # Reconciliation reads the platforms that can list their after-sales and feeds the intake (`intake`).
        + ReconciliationActivities(
            {p: a for p, a in (marketplaces or {}).items() if hasattr(a, "changed_after_sales")},
            intake,
            LinkStates(store.sessions),
        ).all,
        workflow_runner=SANDBOX,
        interceptors=[
            ActionVerifier(signing_keys or action_keys(get_settings())),
            BriefAnswers(),
            *options.pop("interceptors", []),
        ],
        **options,
    )


def worker_from_settings(client: Client, store: CaseStore, settings: Settings) -> Worker:
    """The case worker as `aftersales worker` and `aftersales dev` run it."""
    return build_worker(
        client,
        store,
        settings.task_queue,
        triage_rules=settings.triage_rules(),
        triage_rules_cache_seconds=settings.triage_rules_cache_seconds,
        executor=executor_from_settings(settings),
        route_attempts=settings.execution_route_attempts,
        marketplaces=dict(adapters_from_settings(settings)),
        intake=intake_from(settings, client, store.sessions),
        signing_keys=action_keys(settings),
        files=storage_from(settings),
        max_cached_workflows=settings.worker_cached_cases,
        deployment_config=deployment_config(settings),
        # On SIGTERM (a rolling update) running activities get this long to finish before they are cancelled.
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


def customer_links(settings: Settings) -> LinkMaker:
    """Messages that ask the customer something carry the customer page's signed link (`/c/{token}`)."""

    def link(case_number: str, purpose: str, expires_at: datetime) -> str | None:
        if purpose not in set(Purpose):
            return None
        return issue_link(case_number, purpose, expires_at, settings)

    return link


def buyer_messages(settings: Settings) -> dict[str, BuyerSender]:
    """The configured marketplaces whose adapter can post on an after-sale (channels/base.py
    BuyerMessaging: Taobao's refund messages; Douyin has none), by platform name: their cases'
    customer messages go there first (delivery/marketplace.py)."""
    return {
        platform.value: adapter.send_buyer_message
        for platform, adapter in adapters_from_settings(settings).items()
        if isinstance(adapter, BuyerMessaging)
    }


@contextlib.asynccontextmanager
async def outbox_dispatcher(settings: Settings, sessions: Any) -> AsyncIterator[None]:
    """Delivers the outbox beside the worker, as a task of its own: a notification that
    cannot be delivered never holds a case up. Several worker processes may each run one."""
    dispatcher = dispatcher_from_settings(
        settings, sessions, link=customer_links(settings), buyer_senders=buyer_messages(settings)
    )
    task = asyncio.create_task(dispatcher.run(), name="outbox-dispatcher")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def worker_runtime(settings: Settings) -> Runtime | None:
    """The Temporal runtime serving the worker's metrics on WORKER_METRICS_PORT; None (the SDK's
    default runtime, no endpoint) when unset. The worker's client must be connected with it."""
    if settings.worker_metrics_port is None:
        return None
    address = f"{settings.worker_metrics_host}:{settings.worker_metrics_port}"
    logging.getLogger(__name__).info("worker metrics on http://%s/metrics", address)
    return metrics_runtime(address)


async def run_worker(settings: Settings, client: Client | None = None) -> None:
    start_tracing("aftersales-worker")
    engine = create_engine(settings.effective_database_url)
    trace_engine(engine)
    try:
        client = client or await connect(settings, runtime=worker_runtime(settings))
        sessions = session_factory(engine)
        worker = worker_from_settings(client, CaseStore(sessions, phone_key=settings.phone_key()), settings)
        version = deployment_config(settings).version
        logging.getLogger(__name__).info(
            "worker polling %s on %s as %s (worker versioning %s)",
            settings.task_queue,
            settings.temporal_address,
            version.to_canonical_string(),
            "on" if settings.worker_versioning else "off",
        )
        # Scaled on the task-queue backlog, the worker leaves the outbox to `aftersales dispatcher` when told so.
        dispatching = outbox_dispatcher(settings, sessions) if settings.worker_runs_dispatcher else None
        # Taobao's messages come over TMC's WebSocket, consumed here unless `aftersales tmc` runs apart.
        consuming = tmc_consumer(settings, client, sessions) if settings.worker_runs_tmc else None
        async with dispatching or contextlib.nullcontext(), consuming or contextlib.nullcontext():
            await _run_until_terminated(worker)
    finally:
        await engine.dispose()


async def _run_until_terminated(worker: Worker) -> None:
    """Run the worker until it fails or SIGTERM/SIGINT asks it to stop; then shut it down gracefully:
    polling stops, running activities get GRACEFUL_SHUTDOWN, the server hears that the worker left (its
    cached cases go to another worker at once instead of after a sticky timeout)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running = asyncio.create_task(worker.run(), name="worker")
    stopping = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set() and not running.done():
            logging.getLogger(__name__).info("stopping: finishing running activities (at most %s)", GRACEFUL_SHUTDOWN)
            await worker.shutdown()
        await running
    finally:
        stopping.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def configured_platforms(settings: Settings, *, listing: bool = False) -> list[Platform]:
    """The marketplaces whose credentials are set; with `listing`, those whose adapter can also list
    its recent after-sales (what the reconciliation schedule reads)."""
    adapters = adapters_from_settings(settings)
    return sorted(p for p, a in adapters.items() if not listing or hasattr(a, "changed_after_sales"))


async def run_tmc(settings: Settings, client: Client) -> None:
    """Only the Taobao TMC consumer (`aftersales tmc`): where the workers run with WORKER_RUNS_TMC=false."""
    engine = create_engine(settings.effective_database_url)
    try:
        async with tmc_consumer(settings, client, session_factory(engine)) as consumer:
            if consumer is None:
                raise RuntimeError("set TAOBAO_APP_KEY and TAOBAO_APP_SECRET to consume Taobao's messages")
            await asyncio.Event().wait()  # until cancelled (Ctrl-C, SIGTERM)
    finally:
        await engine.dispose()


async def run_dispatcher(settings: Settings) -> None:
    """Only the outbox dispatcher (`aftersales dispatcher`): it needs the database, not Temporal.
    Several may run: each claims due rows under a lease. With WORKER_METRICS_PORT set it serves its
    delivery counters there, as the worker does (kept referenced for the life of the process)."""
    runtime = worker_runtime(settings)  # noqa: F841 - the runtime serves the endpoint while referenced
    engine = create_engine(settings.effective_database_url)
    try:
        logging.getLogger(__name__).info("outbox dispatcher delivering with the %s adapter", settings.notify_adapter)
        await dispatcher_from_settings(
            settings, session_factory(engine), link=customer_links(settings), buyer_senders=buyer_messages(settings)
        ).run()
    finally:
        await engine.dispose()


if __name__ == "__main__":
    from core.logs import configure_logging

    configure_logging(get_settings().log_level, get_settings().log_format)
    asyncio.run(run_worker(get_settings()))
