from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)

# A dependency that does not answer within this is as good as down for taking traffic.
READY_TIMEOUT_SECONDS = 2.0


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _database(request: Request) -> None:
    async with request.app.state.store.sessions() as session:
        await session.execute(text("SELECT 1"))


async def _temporal(request: Request) -> None:
    # GetSystemInfo is what the SDK itself calls on connect: a self-hosted cluster and Temporal Cloud both answer it.
    await request.app.state.temporal.workflow_service.get_system_info(
        GetSystemInfoRequest(), timeout=timedelta(seconds=READY_TIMEOUT_SECONDS)
    )


async def _check(request: Request, name: str, probe) -> str:  # noqa: ANN001 - one of the probes above
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await probe(request)
    except Exception as error:  # noqa: BLE001 - any failure, whatever its kind, means "not ready"
        # Only the kind: a driver's message can carry the database URL.
        logger.warning("not ready: %s does not answer (%s)", name, type(error).__name__)
        return "unavailable"
    return "ok"


@router.get(
    "/readyz",
    summary="Readiness: the database and Temporal answer",
    responses={503: {"description": "The database or Temporal does not answer; the body says which"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Kubernetes sends traffic to this process only while both its dependencies answer.
    Liveness (`/healthz`) stays independent of them: a database outage must not restart every pod."""
    database, temporal = await asyncio.gather(
        _check(request, "database", _database), _check(request, "temporal", _temporal)
    )
    checks = {"database": database, "temporal": temporal}
    if all(state == "ok" for state in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse(
        {
            "type": "about:blank",
            "title": "Not ready",
            "status": 503,
            "detail": "Not taking traffic: " + ", ".join(name for name, state in checks.items() if state != "ok"),
            "checks": checks,
        },
        status_code=503,
        media_type="application/problem+json",
        headers={"Retry-After": "5"},
    )
