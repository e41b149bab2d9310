"""Settings for the audit console, read from the environment through django-environ.

Every value a deployment changes comes from an environment variable (or a `.env` file
beside manage.py); the defaults are for a developer's machine only.
"""
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost", "testserver"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    # A key is sensitive when it equals one of these or ends with "_" + one of them, after
    # camelCase is turned into snake_case (dbPassword → db_password).
    AUDIT_REDACT_KEYS=(list, ["password", "passwd", "passphrase", "api_key", "apikey", "secret",
                              "secret_key", "secret_access_key", "token", "private_key",
                              "credentials", "authorization", "cookie"]),
    AUDIT_CHECKPOINT_EVERY=(int, 10_000),
    AUDIT_SECURE_COOKIES=(bool, False),
)
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env("DEBUG")
# A development secret is allowed only when DEBUG is on or no key was configured for a
# local run; `make run` and `make test` export a per-checkout key.
SECRET_KEY = env("SECRET_KEY", default="dev-insecure-change-me-" + "x" * 32)
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_htmx",
    "django_filters",
    "template_partials",
    "procrastinate.contrib.django",
    "axes",
    # The layers, bottom to top (the import-linter contract in .importlinter keeps them so).
    "apps.events",
    "apps.rbac",
    "apps.search",
    "apps.outbound",
    "apps.viewer",
    "apps.dashboard",
    "apps.reports",
    "apps.exports",
    "apps.streams",
    "apps.alerts",
    "apps.importers",
    "apps.retention",
    "apps.api",
    "apps.demo",
    "auditconsole",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Deny by default: every view needs a signed-in user unless it is marked public
    # (sign-in page, the token-authenticated API).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Ends an external auditor's session once their link is revoked or expired.
    "apps.rbac.middleware.AuditorSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "auditconsole.headers.SecurityHeadersMiddleware",
    # A NUL in the path (404) or a query parameter (400): nothing can hold it (see the module).
    # Below the headers, so its answers carry them; it answers before any view runs.
    "auditconsole.request_values.RequestValuesMiddleware",
    # Last, so that it turns the sign-in view's lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Axes first: it refuses a locked-out username and address before any password is checked.
# Permissions come from role assignments only (apps.rbac.backends).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "apps.rbac.backends.RoleBackend",
]

ROOT_URLCONF = "auditconsole.urls"
WSGI_APPLICATION = "auditconsole.wsgi.application"
ASGI_APPLICATION = "auditconsole.asgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/auditconsole")}
# The console is served over ASGI (uvicorn), where every request runs in a thread of its own:
# a persistent connection is never reused, and stays open after its request until the thread's
# objects are garbage-collected (measured: 14 idle connections behind 10 live-view pages, see
# bench/live.py). Django's documentation advises against persistent connections under ASGI.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Instead, requests borrow connections from a pool (Django's, psycopg_pool), one per server
# process, and give them back when they end: no new PostgreSQL session per request. A request
# holds its connection until its response ends (a live view's stream gives it back when it
# starts, an export holds it while it streams), so DB_POOL_MAX_SIZE is a few exports plus the
# requests served at once; past it, a request waits up to DB_POOL_TIMEOUT seconds for one and
# is then answered 503 with Retry-After (auditconsole/errors.py), rather than waiting for ever.
# The pool is per process: `serve` runs 2 web processes (each also holding the live views'
# 1 + 4 connections) and the worker, which has one too.
# DB_POOL=0 goes back to a connection per request (and allows CONN_MAX_AGE).
if env.bool("DB_POOL", default=True):
    if DATABASES["default"]["CONN_MAX_AGE"] != 0:
        raise ImproperlyConfigured("CONN_MAX_AGE and the connection pool exclude each other: set DB_POOL=0 "
                                   "to use persistent connections")
    DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=10)
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=min(2, DB_POOL_MAX_SIZE)),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
    }
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default=None)}
# Two roles (README, "Database roles"): DATABASE_URL is the console's own role, which owns
# nothing and may only read and append to the log; DATABASE_OWNER_URL, when set, is the role
# that owns the schema: `manage.py migrate` connects as it, then grants the console's role
# (apps/events/db_roles.py). Without it, one role does both (and `serve` warns).
DATABASE_OWNER = None
CONSOLE_DB_ROLE = None
CONSOLE_DB_PASSWORD = None
if env("DATABASE_OWNER_URL", default=""):
    # Only its user and password are taken: the owner's role on DATABASE_URL's server and
    # database (so a test database, or a process pointed at another database, is migrated by
    # the owner there too).
    _owner = env.db("DATABASE_OWNER_URL")
    DATABASE_OWNER = {key: _owner[key] for key in ("USER", "PASSWORD")}
    if _owner["USER"] != DATABASES["default"]["USER"]:
        CONSOLE_DB_ROLE = DATABASES["default"]["USER"]
        CONSOLE_DB_PASSWORD = DATABASES["default"]["PASSWORD"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in lockout (django-axes): five failures for one username from one address lock that
# pair out for the cool-off; a success resets the count. Other users, and the same user from
# elsewhere, can still sign in, so an attacker cannot lock a victim out from afar. The address
# is REMOTE_ADDR (set AXES_IPWARE_* behind a trusted proxy).
AXES_ENABLED = True
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "apps.rbac.auth_views.lockout"
AXES_VERBOSE = False
# Successful sign-ins are recorded in the audit trail; a second record in axes' table is not needed.
AXES_DISABLE_ACCESS_LOG = True

# The console's own audit trail (apps.rbac.audit_trail). Not read from the environment: a
# deployment cannot switch it off; the test suite does, except in the tests that check it.
AUDIT_TRAIL_ENABLED = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"  # the dashboard
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

# Request bodies: the ingest API takes up to 5 MiB and answers 413 past that; Django's own
# limit is raised to match so the API can answer with its own JSON error.
INGEST_MAX_BODY_BYTES = 5 * 1024 * 1024
INGEST_MAX_BATCH = 1000
# How far ahead of the server's clock an event may be dated (clock skew is real; the year 9999
# is not): later timestamps are refused with a 400 naming `timestamp`. The earliest accepted is
# 1970-01-01T00:00:00Z (README, "Timestamps").
INGEST_MAX_FUTURE_SECONDS = env.int("INGEST_MAX_FUTURE_SECONDS", default=24 * 3600)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES

# Keys whose values are replaced by "[REDACTED]" at ingest, wherever they occur in an event.
AUDIT_REDACT_KEYS = [k.lower() for k in env("AUDIT_REDACT_KEYS")]

# Ed25519 signing key for checkpoints: base64 of the 32-byte private seed. When unset, a
# development key is generated once into AUDIT_SIGNING_KEY_FILE.
AUDIT_SIGNING_KEY = env("AUDIT_SIGNING_KEY", default="")
AUDIT_SIGNING_KEY_FILE = Path(env("AUDIT_SIGNING_KEY_FILE", default=str(BASE_DIR / ".signing_key")))
AUDIT_CHECKPOINT_EVERY = env("AUDIT_CHECKPOINT_EVERY")
# The worker signs the chain head this often (seconds, a divisor of 60) and appends each new
# checkpoint to the witness file in AUDIT_WITNESS_DIR (apps.events.witness): a directory outside
# the database, ideally append-only or on another host. Empty: no witness (not recommended).
AUDIT_CHECKPOINT_SECONDS = env.int("AUDIT_CHECKPOINT_SECONDS", default=10)
AUDIT_WITNESS_DIR = env("AUDIT_WITNESS_DIR", default="")

# Sessions and cookies. Secure cookies are switched on when the console is served over TLS.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Pages carry the CSRF token themselves (forms, and hx-headers for htmx), so no script needs
# to read the cookie.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env("AUDIT_SECURE_COOKIES")
CSRF_COOKIE_SECURE = env("AUDIT_SECURE_COOKIES")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Reports (apps.reports): generated files are kept here, outside the database, and served only
# through the console's permission checks. The organisation's name goes on every report cover.
# Stream destinations (apps.streams): the backoff of a failing destination, first step and ceiling.
STREAMS_BACKOFF_BASE_SECONDS = env.float("STREAMS_BACKOFF_BASE_SECONDS", default=2.0)
STREAMS_BACKOFF_CAP_SECONDS = env.float("STREAMS_BACKOFF_CAP_SECONDS", default=300.0)
# Exports made by the worker (apps.exports): where their files are kept, and for how long.
EXPORTS_ROOT = Path(env("EXPORTS_ROOT", default=str(BASE_DIR / "var" / "exports")))
EXPORTS_KEEP_HOURS = env.int("EXPORTS_KEEP_HOURS", default=24)
# An export from the viewer of up to this many events streams at once; a larger one goes to the worker.
EXPORTS_DIRECT_MAX = env.int("EXPORTS_DIRECT_MAX", default=10_000)
REPORTS_ROOT = Path(env("REPORTS_ROOT", default=str(BASE_DIR / "var" / "reports")))
REPORTS_ORGANISATION = env("REPORTS_ORGANISATION", default="Example Organisation")
# Reports list at most this many events in a table; the full data is in the evidence pack.
REPORTS_TABLE_ROWS = 20
REPORTS_EVIDENCE_ROWS = 6
# Scheduled reports are mailed. EMAIL_URL (django-environ), e.g. smtp://user:pass@host:587 or
# smtp+tls://...; on a developer's machine the mail is written to the console.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="audit-console@localhost")
CONSOLE_BASE_URL = env("CONSOLE_BASE_URL", default="http://127.0.0.1:8000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # An ordinary refusal (403, 404) is logged as one line, without the traceback Django attaches.
    "filters": {"refusals_without_traceback": {"()": "auditconsole.logging_filters.RefusalsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["refusals_without_traceback"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
    "loggers": {"procrastinate": {"level": "WARNING"}},
}

# Panels the feature apps add to the dashboard, by dotted path (apps.dashboard.views.panels_for).
DASHBOARD_PANELS = ["apps.alerts.reads.dashboard_panel", "apps.retention.status.dashboard_panel"]

# Retention (apps.retention): warm archive segments (Parquet) are written under RETENTION_ROOT;
# cold storage is a local directory (file:///path) or S3-compatible object storage
# (s3://bucket/prefix, with RETENTION_S3_ENDPOINT_URL for a non-AWS endpoint). The nightly run
# archives at most RETENTION_BATCH events per segment.
RETENTION_ROOT = Path(env("RETENTION_ROOT", default=str(BASE_DIR / "var" / "retention")))
RETENTION_COLD_URL = env("RETENTION_COLD_URL", default=(BASE_DIR / "var" / "retention-cold").as_uri())
RETENTION_S3_ENDPOINT_URL = env("RETENTION_S3_ENDPOINT_URL", default="") or None
RETENTION_S3_REGION = env("RETENTION_S3_REGION", default="us-east-1")
RETENTION_BATCH = env.int("RETENTION_BATCH", default=100_000)
