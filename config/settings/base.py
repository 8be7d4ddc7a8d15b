"""Settings shared by every environment. Everything that differs between machines comes from the
environment (12-factor); secrets are never in the repository."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from .shared_state import cache_from_env, file_storage_from_env

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
    "infusionclinic.outcomes",
    "infusionclinic.courses",
    "infusionclinic.dosing",
    "infusionclinic.scheduling",
    "infusionclinic.controlled",
    "infusionclinic.infusions",
    "infusionclinic.api",
    "infusionclinic.demo",
    "infusionclinic.fhir",
    "infusionclinic.reports",
    "infusionclinic.website",
    "infusionclinic.newsletter",
    "infusionclinic.intake",
    "infusionclinic.ops",
    "infusionclinic.billing",
    "infusionclinic.analytics",
    "infusionclinic.portal",
    "infusionclinic.messaging",
    # After the clinic's apps, so fhir/templates/oauth2_provider/authorize.html is the one used.
    "oauth2_provider",
]

MIDDLEWARE = [
    "infusionclinic.audit.middleware.AuditSealMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "infusionclinic.common.middleware.RequestBodyLimitMiddleware",
    "infusionclinic.common.middleware.NulCharacterMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "infusionclinic.common.middleware.RequestContextMiddleware",
    "infusionclinic.common.middleware.ReadYourWritesMiddleware",
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
# Persistent connections on both engines: a request does not pay for a new connection (and, on
# SQLite, its PRAGMAs); on SQLite an open connection also keeps the write-ahead log in place
# between requests instead of checkpointing and deleting it whenever the last request ends.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# DATABASE_REPLICA_URL (optional): a streaming replica of the PostgreSQL database. Only reads that
# tolerate lag (the clinic analytics) go there; writes and everything else stay on `default`
# (infusionclinic.common.dbrouter). Unset: one database, the router changes nothing.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    # A replica that does not answer must cost a page little: connect attempts give up quickly
    # and lag-tolerant reads fall back to the primary (common.dbrouter).
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DATABASE_REPLICA_CONNECT_TIMEOUT", default=2)
    )
    # Tests never create a second database: the replica alias reads the test database.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["infusionclinic.common.dbrouter.ReplicaRouter"]
# After the replica failed to answer, how long lag-tolerant reads stay on the primary before it
# is tried again (per process). Engineering default, not measured.
REPLICA_RETRY_SECONDS = env.int("REPLICA_RETRY_SECONDS", default=30)
# Read-your-writes: after a user's POST/PUT/PATCH/DELETE their lag-tolerant reads use the primary
# for this long (common.middleware.ReadYourWritesMiddleware). Engineering default: far above the
# streaming lag seen on loopback (milliseconds), not a measured bound for a loaded replica.
REPLICA_READ_YOUR_WRITES_SECONDS = env.int("REPLICA_READ_YOUR_WRITES_SECONDS", default=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Audit log: write, then seal (issue 13) --------------------------------------------------
# "after_commit": events are inserted unsealed without a shared lock and sealed into the hash
# chain right after their transaction commits (PostgreSQL's default: writers run in parallel);
# "inline": sealed as inserted under the head lock (SQLite's default: one writer anyway).
AUDIT_SEAL_MODE = env.str(
    "AUDIT_SEAL_MODE",
    default="inline" if DATABASES["default"]["ENGINE"].endswith("sqlite3") else "after_commit",
)
if AUDIT_SEAL_MODE not in ("inline", "after_commit"):
    raise ImproperlyConfigured("AUDIT_SEAL_MODE must be 'inline' or 'after_commit'.")
AUDIT_SEAL_BATCH = env.int("AUDIT_SEAL_BATCH", default=500)  # events per sealing transaction
# verify_audit reports events left unsealed longer than this (sealing stopped running).
AUDIT_UNSEALED_MAX_AGE_SECONDS = env.int("AUDIT_UNSEALED_MAX_AGE_SECONDS", default=300)

# --- Audit log: a keyed chain, anchored outside the database (issue 22, point 4) -----------------
# Each event's hash is HMAC-SHA256 under a key kept outside the database, named by the key id
# stored on the event: AUDIT_HMAC_KEYS is a JSON object {key id: key} holding every key ever used
# (old ones are needed to verify old events), AUDIT_HMAC_KEY_ID the one new events use. Rotate by
# adding a key and switching the id. Without the variables (development, tests) one key derived
# from SECRET_KEY is used (key id "dev"); production refuses to start without them
# (settings/production.py).
AUDIT_HMAC_KEYS: dict[str, str] = env.json("AUDIT_HMAC_KEYS", default={})
AUDIT_HMAC_KEY_ID = env.str("AUDIT_HMAC_KEY_ID", default="")
# Events sealed before the chain was keyed carry key id "legacy" (plain SHA-256). verify_audit
# accepts them only up to this sequence number: 0 for a database that never had them; for one
# upgraded, audit migration 0005 prints the number to set.
AUDIT_HMAC_LEGACY_MAX_SEQ = env.int("AUDIT_HMAC_LEGACY_MAX_SEQ", default=0)
# Signed checkpoints of the chain head (`manage.py audit_checkpoint`, hourly by the systemd timer):
# written here (put it on other storage than the database's, or sync it off the machine), and
# mailed to these addresses when any are set. verify_audit checks every checkpoint found here.
AUDIT_CHECKPOINT_DIR = Path(
    env.str("AUDIT_CHECKPOINT_DIR", default=str(BASE_DIR / "var" / "audit-checkpoints"))
)
AUDIT_CHECKPOINT_MAIL_TO = env.list("AUDIT_CHECKPOINT_MAIL_TO", default=[])
# SQLite: the append-only triggers (audit migration 0006) let DELETE through only when this is on.
# The test settings turn it on so the test runner can empty its throw-away database; never else.
AUDIT_SQLITE_ALLOW_DELETE = False

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
# How long a portal invitation's set-password link works (issue 21 point 2); staff can resend it.
ACCOUNTS_PORTAL_INVITATION_HOURS = env.int("ACCOUNTS_PORTAL_INVITATION_HOURS", default=72)

# Automatic log-off after this many idle minutes (issue 2: 15 by default).
IDLE_TIMEOUT_MINUTES = env.int("IDLE_TIMEOUT_MINUTES", default=15)
# API bearer tokens expire this many days after they are made (issue 22 point 6). A clinic's
# choice, not a rule from ../shared/domain/: 90 days, like a quarterly credential review; a
# monitor's token is re-issued with `manage.py create_api_token`.
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=90)
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
# Failed attempts and lockouts live in the database, which every app node shares (issue 20): a
# lockout holds whichever node the next attempt reaches, and survives a cache flush or restart.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# Sessions, too, are rows in the database (Django's default engine, named here on purpose).
SESSION_ENGINE = "django.contrib.sessions.backends.db"
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
# Stored files (consent PDFs) go through Django's storage API: FILE_STORAGE_BACKEND (default the
# file system under MEDIA_ROOT, one directory every node mounts) and FILE_STORAGE_OPTIONS (JSON),
# so an S3-compatible store is a setting (config/settings/shared_state.py).
STORAGES = {
    "default": file_storage_from_env(
        backend=env.str("FILE_STORAGE_BACKEND", default=""),
        options=env.json("FILE_STORAGE_OPTIONS", default={}),
    ),
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
# A task RUNNING for longer than this is reported by `manage.py tasks_stuck` (its worker probably
# died mid-task; nothing re-runs it automatically). Engineering default, above the longest task.
TASKS_STUCK_MINUTES = env.int("TASKS_STUCK_MINUTES", default=30)

# --- FHIR Bulk Data and SMART App Launch (issue 22 point 9; fhir/bulk.py, fhir/smart.py) ------
# OAuth2 for SMART apps by django-oauth-toolkit: authorization code with PKCE (S256 only), no
# implicit or password grant; clients registered by a superuser in the Django admin.
# OIDC_RSA_PRIVATE_KEY (PEM) turns on OpenID Connect (`openid fhirUser`: an id_token).
# Exported NDJSON files are removed this long after the export finished (`manage.py
# fhir_bulk_expire` from cron, or its task). Engineering default: a day to download them.
FHIR_BULK_RETENTION_HOURS = env.int("FHIR_BULK_RETENTION_HOURS", default=24)
_OIDC_KEY = env.str("OIDC_RSA_PRIVATE_KEY", default="")
OAUTH2_PROVIDER = {
    "SCOPES_BACKEND_CLASS": "infusionclinic.fhir.smart.SmartScopes",
    "OAUTH2_VALIDATOR_CLASS": "infusionclinic.fhir.smart.SmartOAuth2Validator",
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    # The rest of the OAuth 2.0 Security BCP (RFC 9700), as `check --deploy` asks: tokens only in
    # the Authorization header, `iss` in the authorization response, tokens stored hashed, a
    # replayed refresh token revokes its family.
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REQUEST_APPROVAL_PROMPT": "force",  # the user approves every authorisation
    # Engineering defaults: an access token for an hour, a refresh token (offline_access) for
    # 30 days, an authorization code for a minute.
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("SMART_ACCESS_TOKEN_SECONDS", default=3600),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int("SMART_REFRESH_TOKEN_SECONDS", default=30 * 86400),
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ALLOWED_REDIRECT_URI_SCHEMES": env.list("SMART_REDIRECT_URI_SCHEMES", default=["https"]),
    "OIDC_ENABLED": bool(_OIDC_KEY),
    "OIDC_RSA_PRIVATE_KEY": _OIDC_KEY,
}

# --- Public site and newsletter (issue 3) -------------------------------------------------------
CLINIC_NAME = env.str("CLINIC_NAME", default="Infusion Clinic")
# Base of every absolute link the site hands out (mails, sitemap, canonical and OpenGraph URLs).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# One cache (CACHE_URL, e.g. redis://... or filecache:///path, or REDIS_URL: django-redis) shared
# by every web process makes page-cache invalidation and the form rate limits exact; the default
# in-process cache is right for one process and, with several, serves an edited page within
# PUBLIC_PAGE_CACHE_SECONDS (config/settings/shared_state.py).
CACHES = {
    "default": cache_from_env(
        cache_url=env.str("CACHE_URL", default=""),
        redis_url=env.str("REDIS_URL", default=""),
        parse_cache_url=environ.Env.cache_url_config,
    )
}
PUBLIC_PAGE_CACHE_SECONDS = env.int("PUBLIC_PAGE_CACHE_SECONDS", default=300)
# Spam protection for the consultation and sign-up forms: posts per client address per window.
PUBLIC_FORM_RATE_LIMIT = env.int("PUBLIC_FORM_RATE_LIMIT", default=5)
PUBLIC_FORM_RATE_WINDOW_SECONDS = env.int("PUBLIC_FORM_RATE_WINDOW_SECONDS", default=3600)
# Double opt-in: how long a confirmation link works, and how soon a repeated sign-up may send
# another confirmation mail to the same address.
NEWSLETTER_CONFIRM_MAX_AGE_HOURS = env.int("NEWSLETTER_CONFIRM_MAX_AGE_HOURS", default=72)
NEWSLETTER_RESEND_MINUTES = env.int("NEWSLETTER_RESEND_MINUTES", default=10)
# Campaign sending: recipients per background task, and how old a claim left by a crashed worker
# must be before `newsletter_resume` marks it "unknown" (never re-sent automatically).
NEWSLETTER_BATCH_SIZE = env.int("NEWSLETTER_BATCH_SIZE", default=50)
NEWSLETTER_STALE_CLAIM_MINUTES = env.int("NEWSLETTER_STALE_CLAIM_MINUTES", default=10)

# --- Clinic data-entry limits -----------------------------------------------------------------
# Plausibility bounds for body measurements typed at the desk. No domain rule gives them
# (../shared/domain/ is silent), so they are settings with conservative defaults: wide enough
# for any adult patient, narrow enough to catch a unit slip (lb typed as kg, 0, 700).
PATIENT_WEIGHT_MIN_KG = env.float("PATIENT_WEIGHT_MIN_KG", default=25.0)
PATIENT_WEIGHT_MAX_KG = env.float("PATIENT_WEIGHT_MAX_KG", default=350.0)
PATIENT_HEIGHT_MIN_CM = env.float("PATIENT_HEIGHT_MIN_CM", default=100.0)
PATIENT_HEIGHT_MAX_CM = env.float("PATIENT_HEIGHT_MAX_CM", default=250.0)
# Every date typed into a form or sent to the API (issue 22 point 5): not before INPUT_DATE_MIN
# and not more than INPUT_DATE_YEARS_AHEAD years after today. Not clinical: a guard against typos
# (2200, 0403) and values the database or the time-zone rules cannot hold. 1900 is before every
# living patient's birth and after the local-mean-time offsets of the IANA zones (1883 in the US);
# 10 years covers lot expiries and DEA registrations. Chart dates (measured, noted, started on)
# are further bounded by the patient's birth and today (patients.services).
INPUT_DATE_MIN = env.str("INPUT_DATE_MIN", default="1900-01-01")
INPUT_DATE_YEARS_AHEAD = env.int("INPUT_DATE_YEARS_AHEAD", default=10)

# Progress reports: how long a link sent to the referring provider stays valid (days).
REPORT_LINK_DAYS = env.int("REPORT_LINK_DAYS", default=14)

# FHIR: the identifier system of this clinic's MRNs (a URI the clinic owns).
FHIR_MRN_SYSTEM = env.str("FHIR_MRN_SYSTEM", default="urn:infusionclinic:mrn")
# codes.md CODE-RX1: RxNorm ingredient ketamine, RxCUI 6130 (marked unverified there).
FHIR_KETAMINE_RXCUI = env.str("FHIR_KETAMINE_RXCUI", default="6130")
# The ketamine product's RxNorm clinical drug (SCD) for MedicationRequest/Administration. codes.md
# CODE-RX2 lists 238082, 238083 and 238084 without saying which strength is which, so there is no
# default: set the one the clinic stocks (start-up refuses any other). Unset, the ingredient above
# is sent.
FHIR_KETAMINE_SCD_RXCUI = env.str("FHIR_KETAMINE_SCD_RXCUI", default="")

# "Break the glass": how long a prescriber's emergency access to a chart outside their locations
# lasts, and the shortest reason accepted. Operational policy, not a clinical number.
EMERGENCY_ACCESS_MINUTES = env.int("EMERGENCY_ACCESS_MINUTES", default=240)
EMERGENCY_ACCESS_MIN_REASON_CHARS = env.int("EMERGENCY_ACCESS_MIN_REASON_CHARS", default=20)
# --- Rating scales (outcomes app, scales.md) ---------------------------------------------------
# Values scales.md marks unverified (⚠️) are settings with the document's default.
OUTCOMES_PHQ9_REMISSION_BELOW = env.int("OUTCOMES_PHQ9_REMISSION_BELOW", default=5)
OUTCOMES_GAD7_RESPONSE_PERCENT = env.int("OUTCOMES_GAD7_RESPONSE_PERCENT", default=50)
OUTCOMES_GAD7_REMISSION_BELOW = env.int("OUTCOMES_GAD7_REMISSION_BELOW", default=5)
OUTCOMES_PCL5_CUTOFF = env.int("OUTCOMES_PCL5_CUTOFF", default=33)  # scales.md pcl5_cutoff
OUTCOMES_PCL5_RESPONSE_POINTS = env.int("OUTCOMES_PCL5_RESPONSE_POINTS", default=10)
# SCALE-4 alerts go by email to every active prescriber of the patient's location (there is no
# on-duty roster yet) and also to this on-call address when set.
OUTCOMES_SAFETY_ALERT_EMAIL = env.str("OUTCOMES_SAFETY_ALERT_EMAIL", default="")
# Shown to a patient whose answers raise a safety alert (issue 5: 988 in the US).
OUTCOMES_CRISIS_LINE = env.str(
    "OUTCOMES_CRISIS_LINE", default="988 Suicide & Crisis Lifeline: call or text 988 (US)"
)

# --- Stored files (signed consent PDFs) ---------------------------------------------------------
# Never served as static media: each download goes through an access-checked, audited view.
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))

# --- Intake and eligibility screening (issue 4; ../shared/domain/protocol.md) ----------------
# PROT-2 says "adequate dose and duration" without a number of weeks: unverified, my default.
INTAKE_ADEQUATE_TRIAL_MIN_WEEKS = env.int("INTAKE_ADEQUATE_TRIAL_MIN_WEEKS", default=6)
# ELIG-A10: adults only.
INTAKE_MIN_AGE_YEARS = env.int("INTAKE_MIN_AGE_YEARS", default=18)
# PRE-2 (unverified in the domain notes; default on).
INTAKE_PREGNANCY_TEST_REQUIRED = env.bool("INTAKE_PREGNANCY_TEST_REQUIRED", default=True)
# ELIG-A3 "uncontrolled hypertension at screening", read with the do-not-start gate of
# monitoring.md MON-BP-2 (SBP >= 180 or DBP >= 110).
SCREENING_UNCONTROLLED_SBP_MMHG = env.int("SCREENING_UNCONTROLLED_SBP_MMHG", default=180)
SCREENING_UNCONTROLLED_DBP_MMHG = env.int("SCREENING_UNCONTROLLED_DBP_MMHG", default=110)
# PROT-1 accepted indications as ICD-10-CM code prefixes: MDD (F32, F33), bipolar depression
# (F31), PTSD (F43.1), OCD (F42), fibromyalgia (M79.7), CRPS I/II (G90.5, G56.4, G57.7),
# chronic pain (G89.2, G89.4).
INTAKE_ACCEPTED_INDICATION_PREFIXES = env.list(
    "INTAKE_ACCEPTED_INDICATION_PREFIXES",
    default=[
        "F32",
        "F33",
        "F31",
        "F43.1",
        "F42",
        "M79.7",
        "G90.5",
        "G56.4",
        "G57.7",
        "G89.2",
        "G89.4",
    ],
)
# --- Reliability (issue 11) ---------------------------------------------------------------------
# How long an API Idempotency-Key (and the answer stored with it) is kept: a retry within this
# window replays the first answer. 24 hours covers a monitor or integration retrying overnight.
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# The largest request body accepted (bytes); larger answers 413 before any view runs
# (common.middleware.RequestBodyLimitMiddleware). 1 MiB: the largest legitimate body today, a
# patient registration, is a few KiB, and a batch of monitor readings or an intake form stays far
# below it; Django's default (2.5 MiB) is larger than anything here needs, and every request body
# is held in memory. There are no file uploads yet; when there are, they get their own limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

# --- Secure messaging (issue 18 section 3) ------------------------------------------------------
# Attachments: PDF, JPEG, PNG up to 10 MB (the issue's number). A multipart upload to the
# messaging routes (MESSAGING_UPLOAD_PATH_PREFIXES) may carry one file of this size on top of
# DATA_UPLOAD_MAX_MEMORY_SIZE; every other route keeps the 1 MiB limit.
MESSAGING_ATTACHMENT_MAX_BYTES = env.int("MESSAGING_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
MESSAGING_UPLOAD_PATH_PREFIXES = ("/messages/", "/api/v1/messages/")
# The crisis phrases (a clinic-editable list): empty = messaging/data/crisis_phrases.txt.
MESSAGING_CRISIS_PHRASES_FILE = env.str("MESSAGING_CRISIS_PHRASES_FILE", default="")

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
# Issue 19: the fee charged to the card on file for a late cancellation / a no-show, in dollars.
# A clinic choice (not a clinical number): default 0 = no fee. Charged only by a staff action.
SCHEDULING_LATE_CANCEL_FEE = env.str("SCHEDULING_LATE_CANCEL_FEE", default="0.00")
SCHEDULING_NO_SHOW_FEE = env.str("SCHEDULING_NO_SHOW_FEE", default="0.00")
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
# Issue 18 section 1: the portal's "arrive by" is the start minus these minutes. No domain rule
# gives a number (protocol.md PRE-4..6 cover fasting, escort and driving only): a clinic choice,
# unverified; 15 min is a common front-desk instruction and the conservative side of none.
PORTAL_ARRIVE_EARLY_MINUTES = env.int("PORTAL_ARRIVE_EARLY_MINUTES", default=15)
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

# Dosing (../shared/domain/dosing.md). WT-8: a weight older than this must be measured again (⚠️
# unverified default). DOSING_LIMITS overrides LIM-* thresholds by the field names of
# infusionclinic.dosing.calculator.DosingLimits, e.g. {"max_infusion_conc_mg_per_ml": 2}.
DOSING_WEIGHT_MAX_AGE_DAYS = env.int("DOSING_WEIGHT_MAX_AGE_DAYS", default=30)
DOSING_LIMITS = env.json("DOSING_LIMITS", default={})

# Controlled-substance log (../shared/domain/controlled-substances.md). CS-44: roles whose users
# may witness waste, destruction and corrections. §7: an estimated open-vial count within this
# many mL of the ledger is only noted (⚠️ unverified default 0.5; exact counts have no tolerance).
CONTROLLED_WITNESS_ROLES = env.list("CONTROLLED_WITNESS_ROLES", default=["nurse", "prescriber"])
CONTROLLED_VARIANCE_TOLERANCE_ML = env.str("CONTROLLED_VARIANCE_TOLERANCE_ML", default="0.5")
# CS-45: entries back-dated by more than this many minutes are flagged (⚠️ unverified default 60).
CONTROLLED_LATE_ENTRY_MINUTES = env.int("CONTROLLED_LATE_ENTRY_MINUTES", default=60)
# CS-32: mg by which a session's administration in the log may differ from the pump's dose given
# before the difference is named (no document gives a number: 0, the conservative default).
CONTROLLED_ADMINISTRATION_TOLERANCE_MG = env.str(
    "CONTROLLED_ADMINISTRATION_TOLERANCE_MG", default="0"
)
# CS-13: days, besides weekends and US federal holidays, that do not count as business days for
# the 1-business-day DEA notice (state holidays, clinic closures): ISO dates, comma-separated.
CONTROLLED_EXTRA_CLOSED_DAYS = env.list("CONTROLLED_EXTRA_CLOSED_DAYS", default=[])
# CS-7 ⚠️ unverified: years controlled-substance records are kept (federal floor 2, CS-6; 5 as
# e.g. Wisconsin requires). Nothing is ever purged automatically (CS-46).
CONTROLLED_RETENTION_YEARS = env.int("CONTROLLED_RETENTION_YEARS", default=5)
# CS-25 ⚠️ unverified: beyond-use date of an opened multiple-dose vial, days after first puncture.
CONTROLLED_MDV_BUD_DAYS = env.int("CONTROLLED_MDV_BUD_DAYS", default=28)
# --- Billing (issue 9, self-pay) ----------------------------------------------------------------
BILLING_PAYMENT_PROVIDER = env.str("BILLING_PAYMENT_PROVIDER", default="manual")
# codes.md CODE-PX-R3: the clinic decides whether it issues superbills at all.
BILLING_ISSUE_SUPERBILLS = env.bool("BILLING_ISSUE_SUPERBILLS", default=True)
# CMS place-of-service code printed on superbills; "11" (office) is a default, not a domain rule.
BILLING_PLACE_OF_SERVICE = env.str("BILLING_PLACE_OF_SERVICE", default="11")
BILLING_TAX_ID = env.str("BILLING_TAX_ID", default="")
BILLING_CURRENCY = "USD"
# Card payments through Stripe's hosted pages (issue 19). Without both keys the online features
# are hidden and everything else works. STRIPE_API_BASE points the library elsewhere (the tests'
# in-process fake); leave it empty in production.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# Stripe's own default signature tolerance; replayed events older than this are refused.
STRIPE_WEBHOOK_TOLERANCE_S = env.int("STRIPE_WEBHOOK_TOLERANCE_S", default=300)
# Issue 19: deposits taken online when an appointment is booked (a clinic choice, not a clinical
# number). By location code ("*" = any location), then by kind: "consultation", "follow_up",
# "infusion" or "first_infusion" (the patient's first infusion); missing = no deposit. Only with
# Stripe set up. The slot is held this many minutes for the payment, then released.
BILLING_DEPOSITS = env.json(
    "BILLING_DEPOSITS", default={"*": {"consultation": "0.00", "first_infusion": "100.00"}}
)
BILLING_DEPOSIT_HOLD_MINUTES = env.int("BILLING_DEPOSIT_HOLD_MINUTES", default=30)

# protocol.md PROT-33: periodic review of a maintenance course's continued need with the referring
# provider, "default every 6 months" (unverified, ⚠️): 182 days from the start of maintenance.
COURSE_MAINTENANCE_REVIEW_DAYS = env.int("COURSE_MAINTENANCE_REVIEW_DAYS", default=182)

# Issue 18 section 2: check-ins between visits (`manage.py checkins_due`). A check-in is due at
# this local time (HH:MM, in the patient's home location's zone) on its due day: a clinic choice.
CHECKINS_DUE_LOCAL_TIME = env.str("CHECKINS_DUE_LOCAL_TIME", default="09:00")
# The reminder is repeated once when the check-in is still not done this many hours later.
CHECKINS_REMINDER_REPEAT_HOURS = env.int("CHECKINS_REMINDER_REPEAT_HOURS", default=48)
# The mailed one-time link expires after this many hours (unverified clinic default, ⚠️; short so
# a forwarded or old mail opens nothing; the portal's check-in list still works after log-in).
CHECKINS_LINK_MAX_AGE_HOURS = env.int("CHECKINS_LINK_MAX_AGE_HOURS", default=72)
# Flags on the prescriber's home: PHQ-9 up by at least this from the previous score (issue 18,
# unverified ⚠️), and no check-in for this many due periods in a row (issue 18, unverified ⚠️).
CHECKINS_WORSENING_POINTS = env.int("CHECKINS_WORSENING_POINTS", default=5)
CHECKINS_MISSED_PERIODS = env.int("CHECKINS_MISSED_PERIODS", default=2)
