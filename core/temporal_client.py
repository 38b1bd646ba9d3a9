"""One way to reach Temporal, shared by the API, the worker and the CLI."""

from __future__ import annotations

from temporalio.client import Client

from core.codec import data_converter
from core.settings import Settings


async def connect(settings: Settings) -> Client:
    # The API, the worker and the CLI encrypt payloads alike when codec keys are configured.
    return await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace, data_converter=data_converter(settings.codec())
    )
