"""Brief answers: an action answered with where the case now stands instead of its whole view.

Every update's answer is kept in the case's history. The view (`CaseView`) is ≈ 1.5 KB an
action, a third of a closed-loop case's history (issue 19 §4), and the console never reads it:
it redirects to the case page, which reads the case afresh. So a caller that has no use for the
view asks for the brief form (`CaseBrief`) in the update's `aftersales-answer` header
(core/answer_form.py sets it); without the header, the answer is the view, as it always was.

The worker interceptor here hands the header to `wants_brief()`, which `answer()` reads
(workflows/case/base.py). A context variable carries it because the SDK runs each update's
handler in its own task, and the interceptor wraps that task's whole run: concurrent updates of
one case each see their own caller's wish. An answer is no command: replay never compares it,
so either form replays a history recorded with the other.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.worker import HandleUpdateInput, Interceptor, WorkflowInboundInterceptor, WorkflowInterceptorClassInput

HEADER = "aftersales-answer"
# Read by our interceptor alone, never by a converter: no encoding metadata (bytes in every update).
BRIEF = Payload(data=b"brief")

_brief: ContextVar[bool] = ContextVar("aftersales_brief_answer", default=False)


def wants_brief() -> bool:
    """Whether the update being handled asked for the brief answer."""
    return _brief.get()


class _Inbound(WorkflowInboundInterceptor):
    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        header = input.headers.get(HEADER)
        token = _brief.set(header is not None and header.data == BRIEF.data)
        try:
            return await super().handle_update_handler(input)
        finally:
            _brief.reset(token)


class BriefAnswers(Interceptor):
    """The worker's half: reads the caller's wish from the update's header."""

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _Inbound
