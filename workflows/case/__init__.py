"""One after-sales case as a workflow: `workflow.py` composes the handler groups beside it."""

from workflows.case.base import TASK_QUEUE
from workflows.case.workflow import CaseWorkflow

__all__ = ["TASK_QUEUE", "CaseWorkflow"]
