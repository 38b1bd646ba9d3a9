"""The case page's "waiting for" and a form's refusals in Chinese: the workflow's English sentences
and pydantic's error types map to catalog messages, names inside them translated too."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, Field, ValidationError

from console import forms, i18n
from console.waiting import waiting_for
from domain.case import Approval, Note, Rejection
from domain.returns import FLOWS

ZH = i18n.translations("zh_CN").gettext
EN = i18n.translations("en").gettext

# What the workflow writes (workflows/case, domain/returns.py), and what a Chinese page shows.
SENTENCES = {
    "triage by an agent": "客服分派",
    "triage by an agent (reopened)": "客服重新分派（已重开）",
    "a quality handler to accept": "质量部处理人受理",
    "handler handler-wang to propose a solution plan": "处理人 handler-wang 提交解决方案",
    "handler handler-wang to revise the plan": "处理人 handler-wang 修改方案",
    "approval by the after-sales head": "售后负责人审批",
    "approval by a module lead": "模块主管审批",
    "the after-sales head (reopened 3 times)": "售后负责人处理（已重开 3 次）",
    "the fix check on 2026-12-08": "2026-12-08 的效果回访",
    "the refund to be carried out": "退款执行",
    "a supervisor to take up the douyin refusal (follow-up task)": "主管处理 douyin 平台的拒绝（跟进任务）",
}


@pytest.mark.parametrize(("sentence", "shown"), SENTENCES.items())
def test_the_workflows_waiting_for_sentences_read_in_chinese(sentence: str, shown: str) -> None:
    if "quality handler" in sentence:
        shown = shown.replace("质量部", ZH("quality"))
    if "refund" in sentence:
        shown = shown.replace("退款", ZH("refund"))
    assert waiting_for(sentence, ZH) == shown
    assert waiting_for(sentence, EN) == sentence.replace("quality", EN("quality"))


def test_every_leg_of_a_return_and_the_fixed_sentences_are_translated() -> None:
    for leg in (leg for legs in FLOWS.values() for leg in legs):
        assert not re.search(r"[A-Za-z]{3,}", waiting_for(leg.waiting_for, ZH)), leg.waiting_for
    for sentence in ("the customer's answer", "the customer's satisfaction score", "archiving", "nothing: archived"):
        assert not re.search(r"[A-Za-z]{3,}", waiting_for(sentence, ZH)), sentence
    assert waiting_for("something new the workflow says", ZH) == "something new the workflow says"


class Sample(BaseModel):
    count: int = Field(gt=0, lt=10)
    when: str = Field(max_length=3)


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (Note, {}),
        (Note, {"text": "x" * 5001}),
        (Rejection, {"reason": ""}),
        (Approval, {"comment": "x" * 2001}),
        (Sample, {"count": 0, "when": "abcd"}),
        (Sample, {"count": 10, "when": "a"}),
        (Sample, {"count": "many", "when": 4}),
    ],
)
def test_pydantic_refusals_read_in_chinese(model: type[BaseModel], data: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(data)
    for problem in raised.value.errors():
        shown = ZH(forms.message(problem))
        assert shown != problem["msg"] and not re.search(r"[A-Za-z]{3,}", shown), (problem["type"], shown)
