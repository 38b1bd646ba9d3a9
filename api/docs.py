"""/redoc served with no outside request: ReDoc's script comes from the installed
fastapi-offline package (as Swagger UI's does for /docs), and the page forbids images,
fonts and fetches from anywhere but the app: ReDoc's menu footer would otherwise load the
Redocly logo from its CDN (there is no option to leave it out; it hides itself when refused)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse

# fastapi_offline.FastAPIOffline's default mount for its files.
STATIC = "/static-offline-docs"
SAME_ORIGIN_ONLY = "img-src 'self' data:; font-src 'self' data:; connect-src 'self'"


def install_redoc(app: FastAPI, path: str = "/redoc") -> None:
    @app.get(path, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = SAME_ORIGIN_ONLY
        return page
