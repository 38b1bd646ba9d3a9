"""Customer messages from templates: delivery/templates/<language>/<topic>.txt (Jinja2).

Each topic's template fills three blocks: `subject` (the e-mail subject), `text` (the e-mail
body, inside the language's `_email.txt` layout) and `sms` (one or two SMS segments; the link
carries the rest). The context is built here from the notification's body, the case number and
the link only: no staff names, notes or other internal data ever reach a template. Instants
are shown in the customer's timezone (the business calendar's unless the case says otherwise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, TemplateNotFound

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_LANGUAGE = "zh-CN"
LANGUAGES = ("zh-CN", "en")

# The customer's words for the values a body carries; an unknown value is shown as it is.
TERMS: dict[str, dict[str, dict[str, str]]] = {
    "zh-CN": {
        "stage": {
            "received": "已受理", "triaged": "已分派", "in_handling": "处理中", "awaiting_customer": "等待您的回复",
            "plan_proposed": "方案审核中", "executing": "方案执行中", "awaiting_feedback": "等待您的评价",
            "closed": "已结案", "reopened": "已重新处理", "withdrawn": "已撤销", "archived": "已归档",
        },
        "resolution": {
            "explanation": "说明解释", "refund": "退款", "return": "退货", "exchange": "换货", "repair": "维修",
            "compensation": "补偿",
        },
        "step": {
            "label_issued": "退货面单已发出", "pickup_booked": "已预约上门取件", "parcel_received": "仓库已收到包裹",
            "quality_checked": "商品已检验", "restocked": "商品已入库", "repaired": "维修已完成",
            "shipped_back": "维修后的商品已寄回",
        },
        "option": {"label_issued": "我们为您寄送预付退货面单", "pickup_booked": "我们预约快递上门取件"},
    },
    "en": {
        "stage": {
            "received": "received", "triaged": "assigned", "in_handling": "being handled",
            "awaiting_customer": "waiting for your reply", "plan_proposed": "solution under review",
            "executing": "solution being carried out", "awaiting_feedback": "waiting for your rating",
            "closed": "closed", "reopened": "reopened", "withdrawn": "withdrawn", "archived": "archived",
        },
        "resolution": {
            "explanation": "explanation", "refund": "refund", "return": "return", "exchange": "exchange",
            "repair": "repair", "compensation": "compensation",
        },
        "step": {
            "label_issued": "return label issued", "pickup_booked": "pickup booked",
            "parcel_received": "parcel received at our warehouse", "quality_checked": "item inspected",
            "restocked": "item restocked", "repaired": "repair done", "shipped_back": "repaired item shipped back",
        },
        "option": {"label_issued": "we send you a prepaid return label", "pickup_booked": "a courier picks the item up"},
    },
}  # fmt: skip


class MissingTemplate(LookupError):
    """A customer topic without a template in a language: a message that cannot go out."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    sms: str


def language_of(value: str | None) -> str:
    return "en" if value and value.lower().startswith("en") else DEFAULT_LANGUAGE


def when(value: datetime | str | None, zone: ZoneInfo, language: str) -> str | None:
    """An instant as the customer reads it, in their timezone: 2026年12月3日 14:00 / 3 Dec 2026, 14:00."""
    if value is None:
        return None
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = at.astimezone(zone)
    if language == DEFAULT_LANGUAGE:
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    return f"{local.day} {local:%b %Y, %H:%M}"


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


def topics(language: str) -> set[str]:
    return {path.stem for path in (TEMPLATES / language).glob("*.txt") if not path.name.startswith("_")}


def _template(topic: str, language: str) -> Template:
    try:
        return _environment().get_template(f"{language}/{topic}.txt")
    except TemplateNotFound:
        raise MissingTemplate(f"no {language} template for {topic}") from None


def _shown(body: dict[str, Any], zone: ZoneInfo, language: str) -> dict[str, Any]:
    # `*_at` values are instants (ISO strings in the outbox): shown in the customer's timezone.
    return {k: when(v, zone, language) if k.endswith("_at") and isinstance(v, str) else v for k, v in body.items()}


def render(
    topic: str,
    language: str,
    *,
    number: str,
    zone: ZoneInfo,
    body: dict[str, Any] | None = None,
    link: str | None = None,
    next_deadline: datetime | None = None,
) -> Rendered:
    """Raises MissingTemplate, or jinja2's UndefinedError when a template names a value the body lacks."""
    language = language_of(language)
    template = _template(topic, language)
    terms = TERMS[language]
    context = {
        "number": number,
        "link": link,
        "body": _shown(body or {}, zone, language),
        "next_deadline": when(next_deadline, zone, language),
        "term": lambda group, value: terms[group].get(str(value), str(value)),
    }
    blocks = template.new_context(context)
    subject = " ".join("".join(template.blocks["subject"](blocks)).split())
    sms = " ".join("".join(template.blocks["sms"](blocks)).split())
    text = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", template.render(context))).strip()
    return Rendered(subject=subject, text=text + "\n", sms=sms)
