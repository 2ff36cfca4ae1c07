"""Settings for Workflows for Django.

This is the only module that reads environment variables; everything else asks
``django.conf.settings`` at call time (never at import time).
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-insecure-key-change-me-in-production")
DEBUG = _env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "workflows_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
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
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}

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

# --- Workflows engine -------------------------------------------------------
# Dotted module paths whose WorkflowEntrypoint subclasses are registered, in
# addition to the ``workflows`` module of every installed app.
WORKFLOW_MODULES = _env_list("WORKFLOW_MODULES")
# How instances get advanced: inline (in-process, for tests and scripts) or Celery.
WORKFLOWS_DISPATCHER = os.environ.get(
    "WORKFLOWS_DISPATCHER", "workflows_app.engine.dispatch.InlineDispatcher"
)
# Cloudflare's production default delay between step retries.
WORKFLOWS_DEFAULT_RETRY_DELAY = os.environ.get("WORKFLOWS_DEFAULT_RETRY_DELAY", "10 seconds")
# Lifetime cap on step.do calls per instance (sleeps and waits do not count).
WORKFLOWS_MAX_STEPS = int(os.environ.get("WORKFLOWS_MAX_STEPS", "10000"))
# How long a claimed instance stays leased while replaying outside any step.
WORKFLOWS_LEASE_SECONDS = int(os.environ.get("WORKFLOWS_LEASE_SECONDS", "60"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
# Activations in a row that may die without progress before the instance is
# errored as poison (bounds redelivery loops after kill -9 / OOM).
WORKFLOWS_MAX_DELIVERIES = int(os.environ.get("WORKFLOWS_MAX_DELIVERIES", "10"))
