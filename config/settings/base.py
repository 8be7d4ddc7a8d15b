"""Settings shared by every environment. Everything that differs between machines comes from the
environment (12-factor); secrets are never in the repository."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# A demo installation lets staff skip two-factor log-in; production refuses to start with it.
DEMO_MODE = env.bool("DEMO_MODE", default=False)
STAFF_2FA_REQUIRED = env.bool("STAFF_2FA_REQUIRED", default=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "ninja",
    "infusionclinic.common",
    "infusionclinic.accounts",
    "infusionclinic.audit",
    "infusionclinic.patients",
    "infusionclinic.scheduling",
    "infusionclinic.api",
    "infusionclinic.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "infusionclinic.common.middleware.RequestContextMiddleware",
    "infusionclinic.common.middleware.NoStoreMiddleware",
    "infusionclinic.accounts.middleware.IdleLogoutMiddleware",
    "infusionclinic.accounts.middleware.StaffTwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "infusionclinic.accounts.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# DATABASE_URL selects the database: sqlite:///path (default) or postgres://user@host:port/name.
VAR_DIR.mkdir(exist_ok=True)
(VAR_DIR / "staticfiles").mkdir(exist_ok=True)  # whitenoise expects STATIC_ROOT to exist
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'clinic.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # Writers take the lock at BEGIN, so read-then-write transactions (the audit chain)
            # never fail with "database is locked" half-way through.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            # WAL lets readers run beside the writer; synchronous=FULL keeps every commit that
            # was acknowledged, even across a power cut.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
            ),
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and authentication -------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"
PASSWORD_RESET_TIMEOUT = 60 * 60  # one hour

# Automatic log-off after this many idle minutes (issue 2: 15 by default).
IDLE_TIMEOUT_MINUTES = env.int("IDLE_TIMEOUT_MINUTES", default=15)
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Lockout (django-axes): after AXES_FAILURE_LIMIT failed log-ins for one account the account is
# locked for the cool-off time, whatever address the attempts come from.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username"]
# The log-in form posts the email as "username" (Django's AuthenticationForm); axes would
# otherwise look for USERNAME_FIELD ("email"), find nothing and never count a failure.
AXES_USERNAME_FORM_FIELD = "username"
# Locking by address as well would lock a whole clinic office (one NAT address) out after a few
# typos; per-address throttling belongs to the reverse proxy in front of `make serve`.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Infusion Clinic")

# --- Security headers -----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Internationalisation and time ------------------------------------------------------------
LANGUAGE_CODE = "en-us"
# Stored in UTC; shown in each location's own zone (Location.timezone).
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Mail -------------------------------------------------------------------------------------
# With EMAIL_HOST set, mail goes out by SMTP; without it (the demo) each message is written to a
# file under var/mail/ so nothing leaves the machine.
EMAIL_HOST = env.str("EMAIL_HOST", default="")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Infusion Clinic <no-reply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_FILE_PATH = VAR_DIR / "mail"
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
    EMAIL_TIMEOUT = 30
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"

# --- Background work (django-tasks, database backend; worker: manage.py db_worker) -------------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

# --- Clinic data-entry limits -----------------------------------------------------------------
# Plausibility bounds for body measurements typed at the desk. No domain rule gives them
# (../shared/domain/ is silent), so they are settings with conservative defaults: wide enough
# for any adult patient, narrow enough to catch a unit slip (lb typed as kg, 0, 700).
PATIENT_WEIGHT_MIN_KG = env.float("PATIENT_WEIGHT_MIN_KG", default=25.0)
PATIENT_WEIGHT_MAX_KG = env.float("PATIENT_WEIGHT_MAX_KG", default=350.0)
PATIENT_HEIGHT_MIN_CM = env.float("PATIENT_HEIGHT_MIN_CM", default=100.0)
PATIENT_HEIGHT_MAX_CM = env.float("PATIENT_HEIGHT_MAX_CM", default=250.0)

# "Break the glass": how long a prescriber's emergency access to a chart outside their locations
# lasts, and the shortest reason accepted. Operational policy, not a clinical number.
EMERGENCY_ACCESS_MINUTES = env.int("EMERGENCY_ACCESS_MINUTES", default=240)
EMERGENCY_ACCESS_MIN_REASON_CHARS = env.int("EMERGENCY_ACCESS_MIN_REASON_CHARS", default=20)

# --- Scheduling (issue 8) -----------------------------------------------------------------------
# Infusion appointment length = preparation + infusion + observation. DOSE-4: default infusion
# 40 min; MON-T5: minimum observation 60 min after the end. Preparation (IV line, MON-T1 baseline
# after 5 min rest) has no domain number: unverified, default 20 min.
SCHEDULING_INFUSION_PREP_MINUTES = env.int("SCHEDULING_INFUSION_PREP_MINUTES", default=20)
SCHEDULING_INFUSION_MINUTES = env.int("SCHEDULING_INFUSION_MINUTES", default=40)  # DOSE-4
SCHEDULING_RECOVERY_MINUTES = env.int("SCHEDULING_RECOVERY_MINUTES", default=60)  # MON-T5
# Consultation and follow-up lengths: not in the domain documents (unverified, defaults).
SCHEDULING_CONSULTATION_MINUTES = env.int("SCHEDULING_CONSULTATION_MINUTES", default=60)
SCHEDULING_FOLLOW_UP_MINUTES = env.int("SCHEDULING_FOLLOW_UP_MINUTES", default=30)
# How many booked infusion chairs one nurse on shift may watch (issue 8: configurable;
# unverified, conservative default 2).
SCHEDULING_CHAIRS_PER_NURSE = env.int("SCHEDULING_CHAIRS_PER_NURSE", default=2)
# Slot grid for availability, minutes (operational).
SCHEDULING_SLOT_MINUTES = env.int("SCHEDULING_SLOT_MINUTES", default=15)
# Cancelling later than this before the start is flagged "late" (operational; default 24 h).
SCHEDULING_LATE_CANCEL_HOURS = env.int("SCHEDULING_LATE_CANCEL_HOURS", default=24)
# Patients may move or cancel online up to this many hours before the start (operational).
SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS = env.int(
    "SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS", default=24
)
# PROT-10: induction default 3 infusions every 7 days; PROT-30: maintenance every 28 days;
# PROT-12: minimum spacing between infusions 48 h (unverified in the domain document).
SCHEDULING_INDUCTION_COUNT = env.int("SCHEDULING_INDUCTION_COUNT", default=3)
SCHEDULING_INDUCTION_INTERVAL_DAYS = env.int("SCHEDULING_INDUCTION_INTERVAL_DAYS", default=7)
SCHEDULING_MAINTENANCE_INTERVAL_DAYS = env.int("SCHEDULING_MAINTENANCE_INTERVAL_DAYS", default=28)
SCHEDULING_MIN_SPACING_HOURS = env.int("SCHEDULING_MIN_SPACING_HOURS", default=48)
# Reminder offsets before the appointment, hours (issue 8 example: 72 and 24).
SCHEDULING_REMINDER_OFFSETS_HOURS = env.list(
    "SCHEDULING_REMINDER_OFFSETS_HOURS", cast=int, default=[72, 24]
)
# Reminder instructions. PRE-4: no solid food for 6 h, clear liquids until 2 h before the start.
SCHEDULING_NPO_SOLIDS_H = env.int("SCHEDULING_NPO_SOLIDS_H", default=6)  # PRE-4
SCHEDULING_NPO_CLEAR_H = env.int("SCHEDULING_NPO_CLEAR_H", default=2)  # PRE-4
# The clinic's public address, for links in reminders sent by the worker (no request there).
SCHEDULING_SITE_URL = env.str("SCHEDULING_SITE_URL", default="http://127.0.0.1:8000")
# Domain part of iCalendar UIDs (RFC 5545 recommends a domain you control).
ICAL_UID_DOMAIN = env.str("ICAL_UID_DOMAIN", default="infusionclinic.invalid")
# SMS provider: dotted path to a class with send(*, to, body). The default only logs.
SCHEDULING_SMS_PROVIDER = env.str(
    "SCHEDULING_SMS_PROVIDER", default="infusionclinic.scheduling.sms.LoggingSmsProvider"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
