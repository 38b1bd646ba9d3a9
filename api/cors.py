"""CORS for Temporal UI's calls to /codec, and for nothing and nobody else."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# What Temporal UI sends to a codec endpoint: its access token (when configured to
# pass it), the namespace, JSON; the identity headers until API keys arrive.
ALLOWED_HEADERS = ["Authorization", "Content-Type", "X-Namespace", "X-API-Key"]


def origin_of(url: str) -> str:
    """http://localhost:8233/namespaces/default -> http://localhost:8233"""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class UiCodecCors:
    """Starlette's CORSMiddleware, reached only by requests to `prefix` from the UI's origin:
    any other origin or path gets no CORS headers at all, not even on a refused preflight."""

    def __init__(self, app: ASGIApp, ui_url: str, prefix: str = "/codec") -> None:
        self.app = app
        self.origin = origin_of(ui_url)
        self.prefix = prefix
        self.cors = CORSMiddleware(
            app,
            allow_origins=[self.origin],
            allow_methods=["POST"],
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].startswith(self.prefix)
            and Headers(scope=scope).get("origin") == self.origin
        ):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
