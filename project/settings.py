"""Settings for Workflows for Django.

This is the only module that reads environment variables; everything else asks
``django.conf.settings`` at call time (never at import time).
"""

import os
import tempfile
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# DEBUG is off unless asked for (`make run` sets DJANGO_DEBUG=1): its error pages
# show settings and the request's environment. With DEBUG off a real secret key
# is required; the public development key below is only ever used with DEBUG on.
DEBUG = _env_bool("DJANGO_DEBUG", False)
DEV_SECRET_KEY = "dev-insecure-key-change-me-in-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "").strip() or (DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and SECRET_KEY in {"", DEV_SECRET_KEY}:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set (or is the public development key) and DJANGO_DEBUG "
        "is off: set DJANGO_SECRET_KEY to a long random value, e.g. the output of "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`, or set "
        "DJANGO_DEBUG=1 for local development"
    )
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # serves the API docs' Swagger UI from static files instead of a CDN
    "workflows_app",
]
# The four example workflows and their demo table, for `make run` and the test
# suite. Optional: a production deployment sets WORKFLOWS_DEMO=0 to leave them out.
if _env_bool("WORKFLOWS_DEMO", True):
    INSTALLED_APPS.append("workflows_examples")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # SECURE_CSP below; the console needs no inline script or style.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Serves collected static files (console CSS/JS, vendored htmx) under gunicorn.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Cloudflare's JSON envelope on the REST API's 404/405s that never reach a view.
    "workflows_app.api.envelope.EnvelopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Console input gets the REST API's checks (NUL, JSON depth ...): a 400 page, never a 500.
    "workflows_app.console.inputs.ConsoleInputMiddleware",
]

ROOT_URLCONF = "project.urls"

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
                "django.template.context_processors.csp",
                "workflows_app.console.context.console",
            ],
        },
    },
]

WSGI_APPLICATION = "project.wsgi.application"

# The embedded default is a SQLite file; DATABASE_URL switches to PostgreSQL.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so a read-then-write
    # transaction never fails halfway with "database is locked"; WAL lets the web
    # process read while a worker writes.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not memory) so worker subprocesses in the integration tests can
    # open it; one per test process so concurrent runs never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get(
            "TEST_SQLITE_PATH",
            os.path.join(tempfile.gettempdir(), f"workflows-test-{os.getpid()}.sqlite3"),
        )
    }

else:
    # A process stopped or cut off in the middle of a transaction (SIGSTOP, a
    # long GC pause, a network partition) would hold its row locks for as long
    # as its TCP connection lives: every write to that instance, and every
    # service call that locks it, would wait behind it. PostgreSQL ends such a
    # session after this many seconds idle inside a transaction (0: never).
    # No transaction of ours waits on Python for more than milliseconds.
    _idle_in_transaction = float(os.environ.get("DATABASE_IDLE_IN_TRANSACTION_SECONDS", "10"))
    if _idle_in_transaction > 0:
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
            f"-c idle_in_transaction_session_timeout={int(_idle_in_transaction * 1000)}"
        )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Security: HTTPS, cookies, CSP, sign-in throttling -------------------------
# Off by default so `make run` works over plain http; a deployment behind TLS
# turns them on (README "Production"; `manage.py check --deploy` is then clean).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _env_bool("DJANGO_SECURE_COOKIES", False)
SECURE_SSL_REDIRECT = _env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# "X-Forwarded-Proto=https": the header (and value) your TLS proxy sets on
# https requests. Only set it behind a proxy that always sets or strips it.
_proxy_ssl_header = os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", "").strip()
if _proxy_ssl_header:
    _name, _sep, _value = _proxy_ssl_header.partition("=")
    if not _sep or not _name.strip() or not _value.strip():
        raise ImproperlyConfigured(
            "DJANGO_SECURE_PROXY_SSL_HEADER must look like 'X-Forwarded-Proto=https'"
        )
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + _name.strip().upper().replace("-", "_"),
        _value.strip(),
    )
CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# Error pages and reports also hide connection URLs (DATABASE_URL ... carry passwords).
DEFAULT_EXCEPTION_REPORTER_FILTER = "workflows_app.reporting.ReporterFilter"
# No inline script, style or event handler anywhere in the console (htmx's
# indicator styles are switched off by a meta tag in base.html); the nonce is
# for Django admin's few inline scripts.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
# Failed console sign-ins and API authentications (workflows_app/throttle.py):
# after this many failures from one client address, or for one username or
# token prefix, within the window, further attempts get 429 + Retry-After (0: off).
WORKFLOWS_AUTH_FAILURES_PER_CLIENT = int(os.environ.get("WORKFLOWS_AUTH_FAILURES_PER_CLIENT", "30"))
WORKFLOWS_AUTH_FAILURES_PER_NAME = int(os.environ.get("WORKFLOWS_AUTH_FAILURES_PER_NAME", "10"))
WORKFLOWS_AUTH_FAILURE_WINDOW_SECONDS = int(
    os.environ.get("WORKFLOWS_AUTH_FAILURE_WINDOW_SECONDS", "900")
)
# Behind a proxy, the header holding the client's address (the proxy's last
# entry is used), e.g. "X-Forwarded-For"; empty: REMOTE_ADDR.
WORKFLOWS_CLIENT_IP_HEADER = os.environ.get("WORKFLOWS_CLIENT_IP_HEADER", "")
# The throttle's counters must be shared by every web process: a table in the
# database by default (`manage.py createcachetable`, run by `make migrate` and
# compose's migrate service), or Redis with DJANGO_CACHE_URL=redis://host:6379/1.
_cache_url = os.environ.get("DJANGO_CACHE_URL", "").strip()
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "workflows_cache",
        }
    )
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Outgoing mail (the order example sends a confirmation); console by default.
MAILERS = {
    "default": {
        "BACKEND": os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    }
}

# --- Workflows ----------------------------------------------------------------
# workflows_app/checks.py refuses a bad dispatcher or out-of-range durations at start-up.
#
# Dotted module paths whose WorkflowEntrypoint subclasses are registered, in
# addition to the ``workflows`` module of every installed app.
WORKFLOW_MODULES = _env_list("WORKFLOW_MODULES")
# How instances get advanced: Celery workers (the default; run
# `manage.py workflows_worker` and `manage.py workflows_scheduler`), or inline
# in the calling process (workflows_app.engine.inline.InlineDispatcher: tests, scripts).
WORKFLOWS_DISPATCHER = os.environ.get(
    "WORKFLOWS_DISPATCHER", "workflows_app.tasks.CeleryDispatcher"
)
# The scheduler's longest sleep between two looks at the due query.
WORKFLOWS_SCHEDULER_POLL_SECONDS = float(os.environ.get("WORKFLOWS_SCHEDULER_POLL_SECONDS", "0.2"))
# Timers due this soon after an activation ends also get a message with a
# short countdown, so they fire on time rather than up to a poll late.
WORKFLOWS_PRECISE_TIMER_SECONDS = float(os.environ.get("WORKFLOWS_PRECISE_TIMER_SECONDS", "5"))
# Cloudflare's production default delay between step retries.
WORKFLOWS_DEFAULT_RETRY_DELAY = os.environ.get("WORKFLOWS_DEFAULT_RETRY_DELAY", "10 seconds")
# Lifetime cap on step.do calls per instance (sleeps and waits do not count).
WORKFLOWS_MAX_STEPS = int(os.environ.get("WORKFLOWS_MAX_STEPS", "10000"))
# How long a claimed instance stays leased while replaying outside any step (a
# running step body renews it; a dead worker's lease expires within this).
WORKFLOWS_LEASE_SECONDS = int(os.environ.get("WORKFLOWS_LEASE_SECONDS", "60"))
# The longest step timeout allowed (a longer one is refused at the step.do
# call; Cloudflare's default is 10 minutes). One activation runs steps in a
# row but starts no new step after WORKFLOWS_ACTIVATION_BUDGET_SECONDS: it
# hands the instance back to the queue instead. So an activation lasts at most
# budget + one step (CELERY_TASK_TIME_LIMIT below adds a margin to that).
WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS = int(
    os.environ.get("WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS", "600")
)
WORKFLOWS_ACTIVATION_BUDGET_SECONDS = float(
    os.environ.get("WORKFLOWS_ACTIVATION_BUDGET_SECONDS", "60")
)
# Activations in a row that may die without progress before the instance is
# errored as poison (bounds redelivery loops after kill -9 / OOM).
WORKFLOWS_MAX_DELIVERIES = int(os.environ.get("WORKFLOWS_MAX_DELIVERIES", "10"))
# REST API limits (Cloudflare Workers Paid): instance creations per second per
# account and per workflow (HTTP 429 + Retry-After beyond). Instances per UTC
# day are the account's plan quota (Plan.daily_invocations_limit), not a setting.
WORKFLOWS_API_CREATE_RATE_PER_ACCOUNT = int(
    os.environ.get("WORKFLOWS_API_CREATE_RATE_PER_ACCOUNT", "300")
)
WORKFLOWS_API_CREATE_RATE_PER_WORKFLOW = int(
    os.environ.get("WORKFLOWS_API_CREATE_RATE_PER_WORKFLOW", "100")
)

# --- Celery -----------------------------------------------------------------
# Celery only carries "there is due work" doorbells; every status, timer and
# lease lives in the database (see workflows_app/tasks.py). Read by
# project/celery.py through the CELERY_ namespace.
#
# The embedded default broker is kombu's filesystem transport under var/broker:
# no server, yet the same publish/consume code path as Redis (not eager mode).
# CELERY_BROKER_URL=redis://127.0.0.1:6379/0 switches to Redis.
CELERY_BROKER_DIR = Path(os.environ.get("CELERY_BROKER_DIR", BASE_DIR / "var" / "broker"))
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
# A step's timeout is enforced by the engine (and a dead worker's lease, renewed
# by a heartbeat while a body runs, expires within WORKFLOWS_LEASE_SECONDS); the
# Celery hard limit only backstops a pool child wedged in a blocking C call.
# An activation lasts at most budget + one step: the hard limit is that plus margin.
CELERY_TASK_TIME_LIMIT = int(
    os.environ.get(
        "CELERY_TASK_TIME_LIMIT",
        str(WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS + int(WORKFLOWS_ACTIVATION_BUDGET_SECONDS) + 60),
    )
)
# No soft limit: SoftTimeLimitExceeded would surface inside replay as a workflow
# error. Timeouts are the engine's job; expiry of the lease covers the rest.
CELERY_TASK_SOFT_TIME_LIMIT = None
# Redis redelivers a message unacked for this long. Keep it above the hard
# limit so a running task is not handed out twice (a duplicate would be a
# no-op anyway: the instance's lease is live). Tests shorten it.
CELERY_VISIBILITY_TIMEOUT = int(
    os.environ.get("CELERY_VISIBILITY_TIMEOUT", str(CELERY_TASK_TIME_LIMIT + 60))
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        # Virtual transports poll; 1 s (kombu's default) would dominate latency.
        "polling_interval": 0.05,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "socket_connect_timeout": 2,
    }
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker outage must not stall the request that rings the doorbell: publishing
# gives up within about a second (the committed row is the outbox; the
# scheduler re-sends it).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_ACKS_LATE = True
# Requeue when the pool child dies (kill -9, OOM); poison loops are bounded by
# Instance.delivery_count / WORKFLOWS_MAX_DELIVERIES, not by the broker.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Retries are decided by the engine, never by the broker.
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A broker blip must not kill running activations: they write only to the
# database, and the doorbell they came from is harmless if redelivered.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Below a typical orchestrator grace period (Kubernetes: 30 s): unacked
# messages go back to the queue at shutdown instead of waiting for the
# visibility timeout.
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = float(
    os.environ.get("CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT", "25")
)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # results live in our tables
CELERY_RESULT_BACKEND = None
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "workflows")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"

# --- Console ------------------------------------------------------------------
# How often the console refreshes a live instance page.
CONSOLE_POLL_SECONDS = int(os.environ.get("CONSOLE_POLL_SECONDS", "5"))
