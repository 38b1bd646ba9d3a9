"""Every customer notification the workflow can emit has a template in zh-CN and in English that
renders with the body the workflow gives it. The topics and their body keys are read from the
workflow's code (every `Notification(recipient="customer", ...)`), so a new customer topic
without templates fails here."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from delivery.messages import LANGUAGES, render, topics, when

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "AS-20261201-000042"
SHANGHAI = ZoneInfo("Asia/Shanghai")

# A value for every body key the workflow sends to customers; a new key needs one here.
SAMPLES = {
    "number": NUMBER,
    "stage": "in_handling",
    "question": "请拍一张包装破损处的照片。",
    "clock": "resolution",
    "due_at": "2026-12-03T06:00:00+00:00",
    "reason": "需要厂家检测",
    "resolution": "return",
    "similar": ["SKU-2", "SKU-3"],
    "otherwise": "refund",
    "default_at": "2026-12-05T02:00:00+00:00",
    "option": "refund",
    "step": "parcel_received",
    "tracking_number": "SF1234567890",
    "passed": None,
    "options": ["label_issued", "pickup_booked"],
    "fix_check_at": "2026-12-08T02:00:00+00:00",
    "answer_due_at": "2026-12-10T10:00:00+00:00",
    "original": "AS-20261130-000007",
    "article": "KB-42",
}


@dataclass(frozen=True)
class Emitted:
    topic: str
    keys: tuple[str, ...]
    where: str


def _dict_keys(node: ast.AST | None) -> tuple[str, ...] | None:
    if isinstance(node, ast.Dict):
        return tuple(k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
    return None


def _assigned(function: ast.AST, name: str, before: int) -> ast.AST | None:
    """The value last assigned to `name` above line `before` in the function."""
    assignments = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Assign)
        and node.lineno < before
        and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]
    return max(assignments, key=lambda node: node.lineno).value if assignments else None


def customer_notifications() -> list[Emitted]:
    """Each `Notification(recipient="customer", topic=..., body=...)` in workflows/ and domain/."""
    found = []
    for path in sorted([*(ROOT / "workflows").rglob("*.py"), *(ROOT / "domain").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for function in functions:
            for call in ast.walk(function):
                if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Notification"):
                    continue
                args = {k.arg: k.value for k in call.keywords}
                recipient = args.get("recipient")
                if not (isinstance(recipient, ast.Constant) and recipient.value == "customer"):
                    continue
                topic = args["topic"]
                assert isinstance(topic, ast.Constant) and isinstance(topic.value, str), (
                    f"{path}:{call.lineno}: a customer topic must be a literal"
                )
                body = args.get("body")
                keys = _dict_keys(body) if body is not None else ()
                if keys is None and isinstance(body, ast.Name):
                    keys = _dict_keys(_assigned(function, body.id, call.lineno))
                assert keys is not None, f"{path}:{call.lineno}: cannot read the body of {topic.value}"
                found.append(Emitted(topic.value, keys, f"{path.relative_to(ROOT)}:{call.lineno}"))
    return sorted(set(found), key=lambda e: (e.topic, e.keys))


EMITTED = customer_notifications()


def test_the_workflow_emits_the_customer_topics_this_test_knows_of() -> None:
    # The enumeration itself works: the well-known topics are found, with their bodies.
    by_topic = {e.topic: e.keys for e in EMITTED}
    assert {"acknowledgement", "progress", "info_request", "delay_notice", "result_and_survey", "fix_check"} <= set(
        by_topic
    )
    assert by_topic["info_request"] == ("question",)
    assert set(by_topic["deadline_extended"]) == {"clock", "due_at", "reason"}  # read through `told = {...}`


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("emitted", EMITTED, ids=lambda e: f"{e.topic}[{','.join(e.keys)}]")
def test_every_customer_topic_renders_in_both_languages(emitted: Emitted, language: str) -> None:
    missing = [k for k in emitted.keys if k not in SAMPLES]
    assert not missing, f"{emitted.where}: add a sample for {missing}"
    assert emitted.topic in topics(language), f"{emitted.where}: no {language} template for {emitted.topic}"
    body = {k: SAMPLES[k] for k in emitted.keys}
    for link in (None, "https://aftersales.example/c/t0ken"):
        # StrictUndefined: a template naming a value the body lacks raises here.
        shown = render(emitted.topic, language, number=NUMBER, zone=SHANGHAI, body=body, link=link)
        assert shown.subject and shown.sms and shown.text.strip()
        assert "\n" not in shown.subject and "{{" not in shown.text + shown.subject + shown.sms
        assert NUMBER in shown.text and NUMBER in shown.subject + shown.sms
        if link:
            assert link in shown.text
        # Instants in the customer's timezone, never as ISO strings.
        assert "+00:00" not in shown.text + shown.sms
    if language == "zh-CN":
        assert any("\u4e00" <= c <= "\u9fff" for c in shown.subject + shown.text + shown.sms)


def test_no_template_is_left_without_a_topic_and_both_languages_have_the_same_set() -> None:
    emitted = {e.topic for e in EMITTED}
    for language in LANGUAGES:
        assert topics(language) == emitted


def test_dates_are_shown_in_the_customers_timezone_and_language() -> None:
    due = "2026-12-03T06:00:00+00:00"
    zh = render("fix_check", "zh-CN", number=NUMBER, zone=SHANGHAI, body={"answer_due_at": due})
    assert "2026年12月3日 14:00" in zh.text and "请在 2026年12月3日 14:00 前告诉我们" in zh.text
    en = render("fix_check", "en", number=NUMBER, zone=ZoneInfo("Europe/Berlin"), body={"answer_due_at": due})
    assert "by 3 Dec 2026, 07:00" in en.text
    assert when(None, SHANGHAI, "en") is None


def test_a_missing_value_fails_the_render() -> None:
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render("info_request", "zh-CN", number=NUMBER, zone=SHANGHAI, body={})


def test_the_delay_notice_apologises_and_names_the_new_date() -> None:
    from datetime import UTC, datetime

    new_date = datetime(2026, 12, 4, 1, 30, tzinfo=UTC)
    zh = render("delay_notice", "zh-CN", number=NUMBER, zone=SHANGHAI, next_deadline=new_date)
    assert "非常抱歉" in zh.text and "将在 2026年12月4日 09:30 前给您答复" in zh.text
    en = render("delay_notice", "en", number=NUMBER, zone=SHANGHAI, next_deadline=new_date)
    assert "We are sorry" in en.text and "by 4 Dec 2026, 09:30" in en.text
