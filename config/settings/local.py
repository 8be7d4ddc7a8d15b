"""Local development and the demo (`make demo`). Never used in production."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
# A throwaway key so `make demo` works on a fresh clone;
# production refuses to start without its own.
SECRET_KEY = env.str("SECRET_KEY", default="insecure-local-demo-key-never-use-in-production")
DEMO_MODE = env.bool("DEMO_MODE", default=True)
STAFF_2FA_REQUIRED = env.bool("STAFF_2FA_REQUIRED", default=not DEMO_MODE)

# SMART apps under development often redirect to http://localhost.
OAUTH2_PROVIDER["ALLOWED_REDIRECT_URI_SCHEMES"] = env.list(  # noqa: F405
    "SMART_REDIRECT_URI_SCHEMES", default=["https", "http"]
)
