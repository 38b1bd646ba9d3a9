"""Loops that run until cancelled must stop when they are, even when a library swallowed the cancel.

Before Python 3.12, `asyncio.wait_for` returns the inner result when the inner future completes in
the same loop turn as the cancel (python/cpython#86296); aiosmtplib waits for every SMTP reply that
way. The cancel is then lost and a `while True` loop goes on for ever: the worker never shuts down,
and in the tests a dispatcher left running delivered later tests' messages. The task still counts
the request (`Task.cancelling()`), so each turn of such a loop asks it.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise CancelledError when this task was asked to stop, even if the cancel itself was swallowed."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
