"""`manage.py check --deploy`: the audit chain's HMAC keys must come from the environment, not
from SECRET_KEY (issue 22, point 4)."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

from .hashing import DEV_KEY_ID, LEGACY_KEY_ID

MIN_KEY_LENGTH = 32


@register(Tags.security, deploy=True)
def audit_hmac_keys_check(app_configs: Any, **kwargs: Any) -> list[Error]:
    errors = []
    keys = settings.AUDIT_HMAC_KEYS
    if not keys:
        errors.append(
            Error(
                "AUDIT_HMAC_KEYS is not set: the audit chain is keyed from SECRET_KEY.",
                hint='Set AUDIT_HMAC_KEYS=\'{"<id>": "<random key>"}\' and AUDIT_HMAC_KEY_ID=<id>.',
                id="audit.E001",
            )
        )
        return errors
    if settings.AUDIT_HMAC_KEY_ID not in keys or settings.AUDIT_HMAC_KEY_ID in (
        LEGACY_KEY_ID,
        DEV_KEY_ID,
    ):
        errors.append(
            Error(
                "AUDIT_HMAC_KEY_ID must name one of AUDIT_HMAC_KEYS (not 'legacy' or 'dev').",
                id="audit.E002",
            )
        )
    short = sorted(k for k, v in keys.items() if len(v) < MIN_KEY_LENGTH)
    if short:
        errors.append(
            Error(
                f"Audit HMAC key(s) shorter than {MIN_KEY_LENGTH} characters: {', '.join(short)}.",
                id="audit.E003",
            )
        )
    return errors
