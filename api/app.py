"""The FastAPI application: `create_app()` for uvicorn, or with resources handed in by tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from api import problems
from api.routes import cases, health
from api.sla_rules import SlaRulebook
from settings import Settings, get_settings
from store.cases import CaseStore
from store.db import create_engine, session_factory
from temporal_client import connect


def create_app(settings: Settings | None = None, *, temporal: Client | None = None, store: CaseStore | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        if store is None:
            engine = create_engine(settings.effective_database_url)
            app.state.store = CaseStore(session_factory(engine), settings.case_number_prefix)
        if temporal is None:
            app.state.temporal = await connect(settings)
        try:
            yield
        finally:
            if engine is not None:
                await engine.dispose()

    app = FastAPI(
        title="Aftersales",
        version="0.1.0",
        summary="After-sales cases as durable Temporal workflows",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sla_rules = SlaRulebook(settings.calendar_file)
    if store is not None:
        app.state.store = store
    if temporal is not None:
        app.state.temporal = temporal
    problems.install(app)
    app.include_router(cases.router)
    app.include_router(health.router)
    return app
