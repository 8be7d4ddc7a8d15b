"""A real SMTP server (aiosmtpd) in the test process, for tests of mail sent by the django-tasks
database queue worker. The fixture `smtp_inbox` (root conftest.py) starts one per test."""

from __future__ import annotations

import socket
from email.message import Message as EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from django.test import override_settings

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpInbox(Message):
    """The messages the server received, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[EmailMessage] = []
        self.port = _free_port()

    def handle_message(self, message: EmailMessage) -> None:
        self.messages.append(message)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def settings(self) -> override_settings:
        """Mail queued on the database task backend and sent over SMTP to this server."""
        return override_settings(
            TASKS=DB_TASKS,
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=self.port,
            EMAIL_USE_TLS=False,
        )


def smtp_inbox_running():
    """Start the server; yield its inbox; stop it."""
    inbox = SmtpInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
