"""The client's half of brief answers (workflows/answer_form.py): inside `brief_answers()`, every
update our Temporal client sends asks the case to answer with `CaseBrief` instead of its view.
A client without this interceptor asks nothing and gets the view, as every caller did before."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from temporalio.client import (
    Interceptor,
    OutboundInterceptor,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowUpdateHandle,
)

from workflows.answer_form import BRIEF, HEADER

_asked: ContextVar[bool] = ContextVar("aftersales_brief_answers", default=False)


@contextmanager
def brief_answers() -> Iterator[None]:
    """Updates sent in this block answer briefly; read them with `result_type=CaseBrief`."""
    token = _asked.set(True)
    try:
        yield
    finally:
        _asked.reset(token)


class AnswerForm(Interceptor):
    """Temporal client interceptor: adds the `aftersales-answer` header inside `brief_answers()`."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Asking(next)


class _Asking(OutboundInterceptor):
    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:
        if _asked.get():
            input.headers = {**input.headers, HEADER: BRIEF}
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        if _asked.get():  # the receipt of a case opened by update-with-start
            update = input.update_workflow_input
            update.headers = {**update.headers, HEADER: BRIEF}
        return await super().start_update_with_start_workflow(input)
