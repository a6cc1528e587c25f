"""Sending e-mail: one `MailSender` port and its SMTP implementation, for every domain that mails.

Alert notifications, licence deliveries and password resets all send through this. Settings
come from `FLOW_SMTP_*`; `mail_sender(settings)` is None when no server is configured (the
embedded default), and each caller decides what "no e-mail" means for it.

smtplib runs in a worker thread: the product has no async SMTP client among its dependencies,
and a message every few minutes does not justify one.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from intuitivus_flow.config import Settings

SEND_TIMEOUT_SECONDS = 20.0
MAX_ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Mail:
    """A plain-text message to one or more comma-separated recipients."""

    to: str
    subject: str
    text: str


class MailError(Exception):
    """The message could not be handed to the mail server (the reason carries no message body)."""


class MailSender(Protocol):
    async def send(self, mail: Mail) -> None:
        """Hand `mail` to the server; raises `MailError` when it was not accepted."""
        ...


class SmtpMailSender:
    """The configured SMTP server, with STARTTLS and login when the settings ask for them."""

    def __init__(self, settings: Settings, *, timeout: float = SEND_TIMEOUT_SECONDS) -> None:
        if not settings.smtp_host:
            raise ValueError("FLOW_SMTP_HOST is not set")
        self._settings = settings
        self._host = settings.smtp_host
        self._timeout = timeout

    def message(self, mail: Mail) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = mail.subject
        message["From"] = self._settings.smtp_from
        message["To"] = mail.to
        message.set_content(mail.text)
        return message

    async def send(self, mail: Mail) -> None:
        message = self.message(mail)
        try:
            await asyncio.to_thread(self._send_sync, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]) from None

    def _send_sync(self, message: EmailMessage) -> None:
        settings = self._settings
        with smtplib.SMTP(self._host, settings.smtp_port, timeout=self._timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user and settings.smtp_password is not None:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(message)


def mail_sender(settings: Settings) -> SmtpMailSender | None:
    """The configured sender, or None when `FLOW_SMTP_HOST` is not set."""
    return SmtpMailSender(settings) if settings.smtp_host else None
