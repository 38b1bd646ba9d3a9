"""The words of a staff alert: Chinese first, English on the second line, and nothing personal.

An alert names the case number, what happened, the priority, the department, the deadline in
the business calendar's timezone to the minute, the rung it went to, and a link to the case
when a console URL is configured. It never quotes the customer (name, phone, address, e-mail)
nor any free text: those stay in the record, behind the link and its access rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.names import CLOCKS, DEPARTMENTS, ROLES
from store.alert_facts import AlertFacts

# Topic -> (zh, en) of what happened; the topics the workflow sends to staff that need action.
TOPICS = {
    "sla_warning": ("SLA 预警", "SLA warning"),
    "sla_breached": ("SLA 已超时", "SLA breached"),
    "sla_escalated": ("SLA 超时升级", "SLA escalated"),
    "approval_requested": ("方案待审批", "Plan awaiting approval"),
    "approval_escalated": ("审批已升级", "Approval escalated"),
    "follow_up_task": ("跟进任务", "Follow-up task"),
    "call_back": ("回访任务", "Call-back task"),
    "contribution_overdue": ("协办部门逾期", "Contribution overdue"),
    "return_step_overdue": ("退换货环节逾期", "Return step overdue"),
    "reopen_limit_reached": ("重开次数已达上限", "Reopen limit reached"),
}
RUNGS = {rung: ROLES[rung] for rung in ("agent", "handler", "supervisor", "head")}


@dataclass(frozen=True)
class Alert:
    """One alert, ready for any robot: `title` for cards, `text` for plain messages, `markdown` for rich ones."""

    title: str
    text: str
    markdown: str
    level: str  # warning | breach | task: a card's colour


def _when(value: Any, zone: ZoneInfo) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(zone)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(zone)
        except ValueError:
            return None
    return None


def compose(
    topic: str,
    case_number: str,
    body: dict[str, Any],
    facts: AlertFacts | None,
    *,
    rung: str,
    department: str | None,
    zone: ZoneInfo,
    console_url: str | None,
) -> Alert:
    zh_what, en_what = TOPICS.get(topic, (topic, topic))
    event = facts.event if facts else {}
    clock = str(body.get("clock") or event.get("clock") or "")
    fraction = body.get("fraction", event.get("fraction"))
    if topic == "sla_warning" and isinstance(fraction, int | float):
        zh_what, en_what = f"{zh_what}（已用 {fraction:.0%}）", f"{en_what} ({fraction:.0%} used)"
    level = event.get("escalation_level")
    if topic == "sla_escalated" and isinstance(level, int):
        zh_what, en_what = f"{zh_what}（第 {level} 级）", f"{en_what} (level {level})"
    priority = (facts.priority if facts else None) or "-"
    zh_department = DEPARTMENTS.get(department, department) if department else "未分诊"
    en_department = department or "not triaged"
    due = _when(event.get("due_at"), zone) or _when(facts.next_deadline if facts else None, zone)
    zh_parts = [f"工单 {case_number}", f"优先级 {priority}", zh_department]
    en_parts = [f"case {case_number}", priority, en_department]
    if due is not None:
        instant = f"{due:%Y-%m-%d %H:%M} ({zone.key})"
        zh_clock, en_clock = CLOCKS.get(clock, (clock, clock))
        zh_parts.append(f"{zh_clock}截止 {instant}" if clock else f"截止 {instant}")
        en_parts.append(f"{en_clock} due {instant}" if clock else f"due {instant}")
    zh_parts.append(f"通知 {RUNGS.get(rung, rung)}")
    en_parts.append(f"to {rung}")
    zh_line = f"【{zh_what}】" + " · ".join(zh_parts)
    en_line = f"[{en_what}] " + " · ".join(en_parts)
    link = f"{console_url}/cases/{case_number}" if console_url else None
    text = "\n".join([zh_line, en_line, *([link] if link else [])])
    markdown = "\n\n".join(
        [
            f"**【{zh_what}】{case_number}**",
            " · ".join(zh_parts[1:]),
            en_line,
            *([f"[查看工单 Open case]({link})"] if link else []),
        ]
    )
    kind = "breach" if topic in ("sla_breached", "sla_escalated") else "warning" if topic == "sla_warning" else "task"
    return Alert(title=f"{zh_what} {case_number}", text=text, markdown=markdown, level=kind)
