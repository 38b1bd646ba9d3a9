"""A real local SMTP server (aiosmtpd) on a free port, keeping every message it was handed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.devrun import free_port


@dataclass
class Sink:
    port: int
    received: list[EmailMessage] = field(default_factory=list)  # accepted
    refused: list[EmailMessage] = field(default_factory=list)  # answered with a 4xx
    # Given a message (and how many with its Message-ID came before): None accepts, an SMTP reply refuses.
    answer: Callable[[EmailMessage, int], str | None] = lambda message, seen: None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        seen = sum(m["Message-ID"] == message["Message-ID"] for m in self.received + self.refused)
        refusal = self.answer(message, seen)
        if refusal:
            self.refused.append(message)
            return refusal
        self.received.append(message)
        return "250 Message accepted for delivery"


@contextmanager
def smtp_sink() -> Iterator[Sink]:
    sink = Sink(port=free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
