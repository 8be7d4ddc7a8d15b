"""The payment provider interface. The clinic records what staff took at the desk; no card is
processed here. A processor-backed provider would implement the same two calls."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings


@dataclass(frozen=True)
class ProviderResult:
    provider: str
    reference: str


class PaymentProvider(Protocol):
    name: str

    def capture(self, *, amount: Decimal, method: str, reference: str) -> ProviderResult: ...

    def refund(self, *, amount: Decimal, method: str, reference: str) -> ProviderResult: ...


class ManualProvider:
    """Records what staff entered (cash counted, card terminal slip, bank transfer reference)."""

    name = "manual"

    def capture(self, *, amount: Decimal, method: str, reference: str) -> ProviderResult:
        return ProviderResult(provider=self.name, reference=reference.strip())

    def refund(self, *, amount: Decimal, method: str, reference: str) -> ProviderResult:
        return ProviderResult(provider=self.name, reference=reference.strip())


PROVIDERS: dict[str, type[PaymentProvider]] = {"manual": ManualProvider}


def payment_provider() -> PaymentProvider:
    return PROVIDERS[settings.BILLING_PAYMENT_PROVIDER]()
