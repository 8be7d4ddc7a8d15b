"""Production: DEBUG off, every secret from the environment, and a refusal to start when the
configuration is unsafe (no SECRET_KEY, no allowed hosts, demo shortcuts left on, no audit HMAC
keys)."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import (
    ALLOWED_HOSTS,
    AUDIT_HMAC_KEY_ID,
    AUDIT_HMAC_KEYS,
    DEMO_MODE,
    SECRET_KEY,
    SILENCED_SYSTEM_CHECKS,
    STAFF_2FA_REQUIRED,
    STORAGES,
    env,
)

DEBUG = False

_problems = []
if not SECRET_KEY or len(SECRET_KEY) < 50 or SECRET_KEY.startswith("insecure"):
    _problems.append("SECRET_KEY must be set to a random value of at least 50 characters")
if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS or env.str("ALLOWED_HOSTS", default="") == "":
    _problems.append("ALLOWED_HOSTS must name the hosts this clinic is served on")
if DEMO_MODE:
    _problems.append("DEMO_MODE must be off in production")
if not STAFF_2FA_REQUIRED:
    _problems.append("STAFF_2FA_REQUIRED cannot be turned off in production")
# The audit chain's HMAC keys live outside the database and outside SECRET_KEY (issue 22.4).
if not AUDIT_HMAC_KEYS or not AUDIT_HMAC_KEY_ID:
    _problems.append("AUDIT_HMAC_KEYS and AUDIT_HMAC_KEY_ID must be set")
elif AUDIT_HMAC_KEY_ID not in AUDIT_HMAC_KEYS or AUDIT_HMAC_KEY_ID in ("legacy", "dev"):
    _problems.append("AUDIT_HMAC_KEY_ID must name one of AUDIT_HMAC_KEYS (not 'legacy' or 'dev')")
elif any(len(key) < 32 for key in AUDIT_HMAC_KEYS.values()):  # noqa: PLR2004
    _problems.append("every key in AUDIT_HMAC_KEYS must be at least 32 characters")
if _problems:
    raise ImproperlyConfigured("Refusing to start: " + "; ".join(_problems))

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Joining the browsers' HSTS preload list is the domain owner's decision (hard to undo), so it is
# opt-in and its deploy-check warning is silenced.
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W021"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
