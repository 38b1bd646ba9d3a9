"""The Chinese names people read for the domain's departments, roles and clocks.

One table for every surface that names them (the report page, staff robots' alerts): a
department renamed here is renamed everywhere. Keys are the values of domain/case.py's
`Department` and `Role` and of domain/sla.py's clocks.
"""

from __future__ import annotations

DEPARTMENTS = {
    "quality": "质量部",
    "logistics": "物流部",
    "sales": "销售部",
    "rnd_repair": "研发维修部",
    "tech_support": "技术支持部",
    "operations": "运营部",
    "customer_service": "客服部",
}
ROLES = {
    "agent": "客服专员",
    "handler": "处理人",
    "supervisor": "主管",
    "head": "售后负责人",
    "admin": "管理员",
    "system": "系统",
    "warehouse": "仓库",
    "logistics": "物流",
}
# (zh, en) for each clock a deadline can run on.
CLOCKS = {
    "first_reply": ("首次响应", "first reply"),
    "respond": ("接单响应", "respond"),
    "plan": ("提交方案", "plan"),
    "resolution": ("解决", "resolution"),
    "approval": ("审批", "approval"),
    "result": ("告知结果", "result"),
    "call_back": ("回访", "call-back"),
}
