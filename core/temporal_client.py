"""One way to reach Temporal, shared by the API, the worker and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client, Interceptor
from temporalio.runtime import Runtime
from temporalio.service import RPCStatusCode, TLSConfig

from core.codec import data_converter
from core.settings import Settings

# Answers that say "not now" rather than "never": the server is down or busy, or nobody
# answered in time (CANCELLED is the client's own deadline, e.g. a query to a case no worker
# is running after a crash; FAILED_PRECONDITION "no poller seen ... worker may be down").
TRANSIENT_RPC = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.FAILED_PRECONDITION,
    }
)


class TemporalSettingsError(ValueError):
    """The Temporal connection settings name a file that cannot be read."""


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TemporalSettingsError(f"{setting} {path} cannot be read: {error.strerror or error}") from None


def tls_option(settings: Settings) -> bool | TLSConfig:
    """What `Client.connect(tls=...)` gets: plain for the local dev server, TLS with the system's CAs
    for an API key (Temporal Cloud), a TLSConfig for mTLS, a private CA or another server name.
    The settings' own validator has already refused a certificate without its key."""
    wants_config = settings.temporal_tls_cert_file or settings.temporal_tls_ca_file or settings.temporal_tls_server_name
    if wants_config and settings.temporal_tls is not False:
        return TLSConfig(
            server_root_ca_cert=_read(settings.temporal_tls_ca_file, "TEMPORAL_TLS_CA_FILE")
            if settings.temporal_tls_ca_file
            else None,
            domain=settings.temporal_tls_server_name,
            client_cert=_read(settings.temporal_tls_cert_file, "TEMPORAL_TLS_CERT_FILE")
            if settings.temporal_tls_cert_file
            else None,
            client_private_key=_read(settings.temporal_tls_key_file, "TEMPORAL_TLS_KEY_FILE")
            if settings.temporal_tls_key_file
            else None,
        )
    if settings.temporal_tls is None:
        return settings.temporal_api_key is not None
    return settings.temporal_tls


def connect_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of `Client.connect` besides the address (tested without a network)."""
    return {
        "namespace": settings.temporal_namespace,
        "tls": tls_option(settings),
        "api_key": settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        # The API, the worker and the CLI encrypt payloads alike when codec keys are configured.
        "data_converter": data_converter(settings.codec()),
    }


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """`runtime`: the worker's, serving its metrics (core/metrics.py); the default one otherwise."""
    from core.action_signing import ActionSigner, action_keys
    from core.answer_form import AnswerForm
    from core.tracing import client_interceptors

    interceptors: list[Interceptor] = client_interceptors()  # tracing, when OTEL_* turn it on
    # Every action on a case carries Aftersales' signature (workflows/signed_actions.py).
    interceptors.append(ActionSigner(settings.action_keys()[0]))
    # Callers that re-read the case (the console) ask for brief answers (workflows/answer_form.py).
    interceptors.append(AnswerForm())
    client = await Client.connect(
        settings.temporal_address, **connect_options(settings), runtime=runtime, interceptors=interceptors
    )
    # Said once the connection stands: a command that cannot reach Temporal answers in one line.
    action_keys(settings)
    return client
