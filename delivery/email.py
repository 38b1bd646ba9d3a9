"""Customer e-mail over SMTP (aiosmtplib), one thread per case.

Message-IDs are derived from the case number, the event and the topic, so a retry re-sends the
same Message-ID (a receiving server or client can drop the duplicate). Every message of a case
answers the case's thread root (In-Reply-To / References), the acknowledgement's own id, so a
mail client shows the case as one conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from core.settings import Settings
from delivery.messages import Rendered


@dataclass(frozen=True)
class Mail:
    to: str
    number: str
    seq: int
    topic: str
    rendered: Rendered
    at: datetime


class EmailChannel:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        user: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 20.0,
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._user, self._password, self._starttls, self._timeout = user, password, starttls, timeout
        self._domain = parseaddr(sender)[1].rpartition("@")[2] or "aftersales.invalid"

    @classmethod
    def configured(cls, settings: Settings) -> EmailChannel:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            user=settings.smtp_user,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )

    def thread_root(self, number: str) -> str:
        return f"<{number}@{self._domain}>"

    def message_id(self, number: str, seq: int, topic: str) -> str:
        return f"<{number}.{seq}.{topic}@{self._domain}>"

    def message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = mail.to
        message["Subject"] = mail.rendered.subject
        message["Date"] = format_datetime(mail.at)
        root = self.thread_root(mail.number)
        if mail.topic == "acknowledgement":
            message["Message-ID"] = root
        else:
            message["Message-ID"] = self.message_id(mail.number, mail.seq, mail.topic)
            message["In-Reply-To"] = root
            message["References"] = root
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it
        message.set_content(mail.rendered.text, charset="utf-8")
        return message

    async def send(self, mail: Mail) -> None:
        """Raises aiosmtplib.SMTPException or OSError when the server refuses or cannot be reached."""
        await aiosmtplib.send(
            self.message(mail),
            hostname=self._host,
            port=self._port,
            username=self._user,
            password=self._password,
            start_tls=self._starttls,
            use_tls=False,
            timeout=self._timeout,
        )
