"""Rendering a console page: one Jinja2 environment per language (its catalog installed),
times shown in the business calendar's timezone to the minute."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from console import i18n
from console.session import Session
from console.waiting import waiting_for

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=len(i18n.LANGUAGES))
def environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["duration"] = duration
    env.globals["nav_pages"] = _nav_pages
    catalog = i18n.translations(language)
    env.filters["waiting_for"] = lambda sentence: waiting_for(sentence, catalog.gettext)
    return env


def _nav_pages(session: Session | None) -> list[Any]:
    from console.gate import nav_pages  # console.gate renders its refusal with `page`

    return nav_pages(session)


def local_minute(instant: datetime | None, timezone: str) -> str:
    """`2026-12-01 09:30` in the business timezone; empty for none."""
    if instant is None:
        return ""
    return instant.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


def duration(value: timedelta | None) -> str:
    """`-1 h 05 min`, `2 d 3 h`, `42 min`: business time left (negative once breached)."""
    if value is None:
        return ""
    minutes = int(value.total_seconds() // 60) if value >= timedelta(0) else -int((-value).total_seconds() // 60)
    sign, minutes = ("-" if minutes < 0 else ""), abs(minutes)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {mins:02d} min"
    return f"{sign}{mins} min"


def page(
    request: Request, template: str, session: Session | None = None, *, status: int = 200, **context: Any
) -> HTMLResponse:
    language = i18n.choose(request)
    settings = request.app.state.settings
    timezone = settings.business_timezone
    body = (
        environment(language)
        .get_template(template)
        .render(
            request=request,
            session=session,
            language=language,
            html_lang=i18n.html_lang(language),
            languages=i18n.NATIVE_NAMES,
            timezone=timezone,
            local=lambda instant: local_minute(instant, timezone),
            csrf=session.csrf if session else "",
            **context,
        )
    )
    headers = {"Cache-Control": "no-store", "Content-Language": i18n.html_lang(language)}
    return HTMLResponse(body, status_code=status, headers=headers)
