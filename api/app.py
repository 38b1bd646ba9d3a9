"""The FastAPI application: `create_app()` for uvicorn, or with resources handed in by tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api import customer, metrics, pages, problems
from api.access import authorize
from api.auth import JwtVerifier
from api.cors import UiCodecCors
from api.docs import install_redoc
from api.limits import BodyLimit, CallerRateLimit
from api.routes import (
    admin,
    attachments,
    cases,
    channels,
    codec,
    contributions,
    follow_up,
    health,
    ops,
    opt_outs,
    queues,
    reports,
    returns,
    triage_rules,
)
from channels.registry import adapters_from_settings
from console.app import install as install_console
from core.settings import Settings, get_settings
from core.temporal_client import connect
from core.tracing import trace_app, trace_engine
from services.file_store import storage_from
from services.sla_rules import SlaRulebook
from services.uploads import scanner_from
from store.apikeys import ApiKeyStore
from store.attachments import AttachmentStore
from store.cases import CaseStore
from store.db import create_engine, session_factory
from store.reports import ReportStore
from store.rules import RulesStore
from store.triage_rules import ActiveTriageRules, TriageRulesStore


def create_app(
    settings: Settings | None = None,
    *,
    temporal: Client | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    ui_codec_trusted: bool = False,
) -> FastAPI:
    """The API; `temporal` and `sessions` are handed in by `aftersales dev` and tests,
    otherwise the app connects on startup from the settings. `ui_codec_trusted` (only
    `aftersales dev --encrypt-payloads`, never a setting) decodes payloads for Temporal UI's
    origin without credentials (api/routes/codec.py)."""
    settings = settings or get_settings()

    def use(app: FastAPI, sessions: async_sessionmaker[AsyncSession]) -> None:
        app.state.store = CaseStore(sessions, settings.case_number_prefix, phone_key=settings.phone_key())
        app.state.rules = RulesStore(sessions)
        app.state.reports = ReportStore(sessions)
        app.state.sla_rules = SlaRulebook(app.state.rules, settings.calendar_file)
        app.state.api_keys = ApiKeyStore(sessions)
        app.state.attachments = AttachmentStore(sessions)
        # The rules the worker's triage activity uses, for previews of a suggestion (services/triage_preview.py).
        app.state.triage_rules = ActiveTriageRules(
            TriageRulesStore(sessions), settings.triage_rules(), ttl_seconds=settings.triage_rules_cache_seconds
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        if sessions is None:
            engine = create_engine(settings.effective_database_url)
            trace_engine(engine)
            use(app, session_factory(engine))
        if temporal is None:
            app.state.temporal = await connect(settings)
        try:
            yield
        finally:
            if engine is not None:
                await engine.dispose()

    # /docs and /redoc with Swagger UI's and ReDoc's files served from the installed
    # fastapi-offline package: FastAPI's default pages load them from a CDN, blank without internet.
    app = FastAPIOffline(
        redoc_url=None,  # api/docs.py: ours also keeps ReDoc's branding logo from its CDN
        title="Aftersales",
        version="0.1.0",
        summary="After-sales cases as durable Temporal workflows",
        lifespan=lifespan,
        # Swagger UI would otherwise send the spec to an online validator for its badge.
        swagger_ui_parameters={"validatorUrl": None},
    )
    install_redoc(app)
    app.state.settings = settings
    app.state.channel_adapters = adapters_from_settings(settings)  # the marketplaces whose credentials are set
    app.state.channel_intake = None  # built on first use (api/routes/channels.py)
    app.state.jwt = JwtVerifier(settings)
    app.state.rate_limit = CallerRateLimit(settings.rate_limit, settings.rate_limit_storage)
    # The customer page's answers carry photos and a short video: their own, larger limit.
    app.add_middleware(
        BodyLimit, limit=settings.max_body_bytes, larger={customer.PREFIX: settings.upload_max_answer_bytes}
    )
    app.state.file_storage = storage_from(settings)
    app.state.upload_scanner = scanner_from(settings)  # tests swap in one that refuses
    app.state.codec = settings.codec()  # for /codec; None when payloads are not encrypted
    app.state.ui_codec_trusted = ui_codec_trusted
    if sessions is not None:
        use(app, sessions)
    if temporal is not None:
        app.state.temporal = temporal
    problems.install(app)
    pages.install(app)  # browsers refused on the report page get a sign-in form
    # Every route but the public ones passes the access matrix, whatever its own signature says.
    guarded = [Depends(authorize)]
    app.include_router(cases.router, dependencies=guarded)
    app.include_router(returns.router, dependencies=guarded)
    app.include_router(attachments.router, dependencies=guarded)
    app.include_router(follow_up.router, dependencies=guarded)
    app.include_router(opt_outs.router, dependencies=guarded)
    app.include_router(contributions.router, dependencies=guarded)
    app.include_router(admin.router, dependencies=guarded)
    app.include_router(health.router)
    app.include_router(reports.router, dependencies=guarded)
    app.include_router(customer.router)  # /c/{token}: public, the signed token is the credential
    app.include_router(pages.router)  # signing in to the report page: public, it checks the key itself
    app.include_router(ops.router, dependencies=guarded)
    app.include_router(queues.router, dependencies=guarded)
    app.include_router(triage_rules.router, dependencies=guarded)
    app.include_router(channels.decisions, dependencies=guarded)
    app.include_router(channels.lookups, dependencies=guarded)
    # A platform's push authenticates by its signature over the body (api/routes/channels.py).
    app.include_router(channels.router)
    # The codec endpoint authenticates by itself: Temporal UI calls it, and callers without
    # the role get payloads back still encoded rather than a refusal.
    app.include_router(codec.router)
    install_console(app, settings)  # the people's web console at /console (console/)
    app.add_middleware(UiCodecCors, ui_url=settings.temporal_ui_url)
    # Outermost, so every answer is counted and traced, a 413 or a CORS preflight included.
    metrics.install(app, settings)  # GET /metrics: requests by route template, the record's gauges
    trace_app(app)  # when OTEL_* turn tracing on (core/tracing.py)
    return app
