"""The test suite. Same security settings as production except the cost of password hashing."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = "test-key-not-secret"  # noqa: S105
DEMO_MODE = False
STAFF_2FA_REQUIRED = True
# Argon2 stays the hasher; the test class only lowers its cost so the suite runs fast.
PASSWORD_HASHERS = ["tests.hashers.FastArgon2PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
# Tests read the audit log right after a request, inside a transaction that never commits (so
# after-commit hooks never run): seal inline. The after-commit path has its own tests
# (audit/tests/test_sealing.py), which switch the mode.
AUDIT_SEAL_MODE = "inline"
# The SQLite append-only trigger lets the test runner empty its throw-away database (as the
# PostgreSQL setting below does for TRUNCATE); checkpoints go to this run's own directory, never
# the repository's var/.
AUDIT_SQLITE_ALLOW_DELETE = True
AUDIT_CHECKPOINT_DIR = Path(tempfile.mkdtemp(prefix="ic-audit-checkpoints-"))

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # Lets the test runner TRUNCATE its throw-away database between transactional tests; the
    # audit trigger refuses TRUNCATE on any connection without it (audit migration 0002).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (  # noqa: F405
        "-c infusionclinic.allow_audit_truncate=on"
    )

# aiosmtpd's per-connection chatter (INFO) comes from the test SMTP server's thread, which can log
# after pytest has closed the captured stream of the test that started it ("Logging error").
LOGGING["loggers"]["mail.log"] = {"level": "WARNING"}  # noqa: F405
