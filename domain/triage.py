"""Keyword suggestions for triage and the category -> department routing table.

The tables are data: the triage activity evaluates them, so a change applies
to the next case without touching running workflows.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.case import Category, Department, TriageSuggestion

DEFAULT_KEYWORDS: Mapping[Category, tuple[str, ...]] = {
    Category.PRODUCT_QUALITY: (
        "broken", "cracked", "won't turn on", "does not turn on", "leaking", "smoke",
        "degumming", "stitching", "fading", "missing part", "defect",
        "坏", "裂", "开不了机", "漏", "冒烟", "开胶", "脱线", "褪色", "缺件", "质量",
    ),
    Category.LOGISTICS: (
        "lost", "late", "not arrived", "never arrived", "damaged in transit", "wrong item", "parcel", "courier",
        "丢件", "延迟", "未收到", "快递", "物流", "发错",
    ),
    Category.USAGE: ("how to", "how do i", "manual", "install", "setup", "怎么用", "使用", "安装"),
    Category.SIZE_FIT: ("size", "too small", "too big", "fit", "尺码", "偏大", "偏小", "不合身"),
    Category.DISCOMFORT: ("uncomfortable", "hurts", "rash", "itchy", "不舒服", "磨脚", "过敏"),
    Category.ORDER_PAYMENT: ("charged twice", "duplicate order", "coupon", "payment", "重复下单", "优惠券", "扣款"),
    Category.REFUND_RETURN: ("refund", "return", "exchange", "退款", "退货", "换货"),
    Category.SERVICE: ("rude", "attitude", "no reply", "promised", "wrong information", "态度", "没人回复", "承诺"),
}

DEFAULT_ROUTING: Mapping[Category, Department] = {
    Category.PRODUCT_QUALITY: Department.QUALITY,
    Category.LOGISTICS: Department.LOGISTICS,
    Category.USAGE: Department.TECH_SUPPORT,
    Category.SIZE_FIT: Department.SALES,
    Category.DISCOMFORT: Department.RND_REPAIR,
    Category.ORDER_PAYMENT: Department.OPERATIONS,
    Category.REFUND_RETURN: Department.SALES,
    Category.SERVICE: Department.CUSTOMER_SERVICE,
    Category.OTHER: Department.CUSTOMER_SERVICE,
}


def suggest(
    description: str,
    keywords: Mapping[Category, tuple[str, ...]] = DEFAULT_KEYWORDS,
    routing: Mapping[Category, Department] = DEFAULT_ROUTING,
) -> TriageSuggestion:
    """Categories whose terms occur in the description, strongest first.

    The department is the routing of the category with the most matched terms.
    """
    text = description.casefold()
    hits: list[tuple[int, int, Category, list[str]]] = []
    for order, (category, terms) in enumerate(keywords.items()):
        matched = [term for term in terms if term.casefold() in text]
        if matched:
            hits.append((-len(matched), order, category, matched))
    if not hits:
        return TriageSuggestion(categories=[Category.OTHER], department=routing[Category.OTHER])
    hits.sort()
    return TriageSuggestion(
        categories=[category for _, _, category, _ in hits],
        department=routing[hits[0][2]],
        matched_terms=[term for *_, matched in hits for term in matched],
    )
