"""SMS behind a small provider interface. The default provider only logs that a message would be
sent, with the number masked and no text (logs must not carry patient data)."""

from __future__ import annotations

import logging
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SmsProvider(Protocol):
    def send(self, *, to: str, body: str) -> None: ...


class LoggingSmsProvider:
    def send(self, *, to: str, body: str) -> None:
        logger.info("SMS to ***%s (%d characters) not sent: logging provider", to[-2:], len(body))


def sms_provider() -> SmsProvider:
    provider: SmsProvider = import_string(settings.SCHEDULING_SMS_PROVIDER)()
    return provider
