"""What the report page calls things: Chinese first, English second.

The JSON report keeps its English labels and keys (programs read them); the page says each
in both languages. A key the tables below do not know (a category added later) reads as the
key itself, never as nothing.
"""

from __future__ import annotations

from domain.names import CLOCKS as CLOCK_NAMES
from domain.names import DEPARTMENTS, ROLES

# Category and channel names, as domain/case.py spells them (departments, roles, clocks: domain/names.py).
CATEGORIES = {
    "product_quality": "产品质量",
    "logistics": "物流配送",
    "usage": "使用咨询",
    "size_fit": "尺码不合",
    "discomfort": "使用不适",
    "order_payment": "订单支付",
    "refund_return": "退款退货",
    "service": "服务问题",
    "other": "其他",
}
CHANNELS = {
    "phone": "电话",
    "chat": "在线客服",
    "email": "邮件",
    "social": "社交媒体",
    "web_form": "网页表单",
    "wechat": "微信",
    "in_store": "门店",
    "marketplace": "电商平台",
    "internal": "内部",
}
# The report compares only the first four clocks.
CLOCKS = {key: CLOCK_NAMES[key][0] for key in ("first_reply", "respond", "plan", "resolution")}

# Breaches before triage belong to no department yet.
NO_KEY = ("未分诊", "none (before triage)")

# The comparison's figures, by `ComparisonRow.figure`; on_time.<clock> reads from CLOCKS.
FIGURES = {
    "cases_received": ("受理工单数", "Cases received"),
    "first_contact_resolution": ("首次联系解决率", "First-contact resolution"),
    "satisfied_share": ("满意客户占比", "Satisfied customers"),
    "average_score": ("平均满意度评分", "Average satisfaction score"),
    "reopen_rate": ("重开率", "Reopen rate"),
    "first_reply_minutes": ("平均首次响应（分钟）", "Average first reply (min)"),
    "resolution_hours": ("平均解决时长（小时）", "Average resolution (h)"),
    "breaches": ("SLA 超时次数", "SLA breaches"),
    "on_time": ("按时率", "On time"),
}
TARGETS = {
    "first_contact_resolution": "首次联系解决率",
    "satisfied_share": "客户满意度（满意占比）",
}
NOTES = {
    "no case received this month": "本月未受理工单",
    "no survey answers this month": "本月没有满意度回访答复",
}

DEFINITIONS: dict[str, tuple[str, str]] = {
    "month": ("月份", "业务时区的自然月：从当月 1 日 00:00 起，到下月 1 日 00:00 止（不含）。"),
    "cases_received": ("受理工单数", "受理时间落在本月的工单。"),
    "categories": (
        "品类分布",
        "本月受理的工单按其当前所属品类统计；一个工单有多个品类时在每个品类中各计一次，"
        "因此占比合计可能超过 100 %。`uncategorized` 为尚未分诊的工单数。",
    ),
    "top_problems": (
        "高频重复问题",
        "本月受理的工单中至少两个工单共有的「品类 × 产品 SKU」组合；取工单数最多的三个"
        "（数量相同时先按品类、再按 SKU 排序）。",
    ),
    "on_time": (
        "按时率",
        "按 SLA 时限统计本月判定的时限：按时（达成事件在本月，且同一周期——自受理或上次重开起——"
        "在此之前没有该时限的 sla_breached 事件）或超时（该周期该时限的第一个 sla_breached 事件在本月）。"
        "某月超时、之后才达成的时限只在超时当月计一次超时。达成事件：工单的首次分诊达成首次响应；"
        "接单达成接单响应；P1/P2 周期的首个 plan_proposed 达成提交方案；resolution_executed 达成解决。"
        "按时率 = 按时 ÷（按时 + 超时）。",
    ),
    "satisfaction": (
        "满意度",
        "本月给出的回访答复（带评分的 closed 与 reopened 事件；修复回访未通过而重开的不算）："
        "平均评分（1–5 分），以及评分 4 分及以上且未表示不满意的答复占比。过期未答的回访不算答复。",
    ),
    "first_contact_resolution": (
        "首次联系解决率",
        "本月受理的工单中，客服在受理时即依据知识库答复解决的占比（first_contact_resolved 事件），"
        "不论之后回访结果如何。",
    ),
    "reopens": (
        "重开",
        "本月受理的工单中，迄今至少重开过一次的占比（这些工单未结案前仍可能上升）；"
        "`reopen_events` 统计本月发生的重开次数，不论工单何时受理。",
    ),
    "first_reply": (
        "首次响应",
        "首次分诊发生在本月的工单：从受理到首次分诊的平均分钟数（按自然时间；目标为 15 至 30 分钟）。",
    ),
    "resolution": ("解决时长", "首次执行解决方案发生在本月的工单：从受理到首次执行的平均小时数（按自然时间）。"),
    "breaches": ("SLA 超时", "本月的 sla_breached 事件，按工单当时所在部门（分诊前为无）和责任角色统计。"),
    "channels": ("渠道", "本月受理的工单按受理渠道统计。"),
    "comparison": ("环比", "上月的同一组指标；变化 = 本月 − 上月。"),
    "targets": ("目标", "DOMAIN.md 中的目标：首次联系解决率 ≥ 85 %，客户满意度（满意占比）≥ 90 %。"),
}


def both(zh: str, en: str) -> str:
    """One label in both languages, as the page shows it."""
    return f"{zh} {en}" if zh != en else en


def _named(names: dict[str, str], key: str) -> str:
    return both(names.get(key, key), key.replace("_", " "))


def category(key: str) -> str:
    return _named(CATEGORIES, key)


def channel(key: str | None) -> str:
    return both(*NO_KEY) if key is None else _named(CHANNELS, key)


def department(key: str | None) -> str:
    return both(*NO_KEY) if key is None else _named(DEPARTMENTS, key)


def role(key: str | None) -> str:
    return both(*NO_KEY) if key is None else _named(ROLES, key)


def clock(key: str) -> str:
    return _named(CLOCKS, key)


def figure(key: str, english: str) -> str:
    """A comparison row's label: `english` is the JSON's, shown when the key is unknown."""
    if key.startswith("on_time."):
        name = key.removeprefix("on_time.")
        return both(f"按时率：{CLOCKS.get(name, name)}", english)
    zh, _ = FIGURES.get(key, (english, english))
    return both(zh, english)


def target(key: str, english: str) -> str:
    return both(TARGETS.get(key, english), english)


def note(english: str) -> str:
    return both(NOTES.get(english, english), english)


NO_DATA = both("无数据", "no data")
