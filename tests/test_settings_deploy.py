"""Production settings: DEBUG off by default, a real secret key required, check --deploy clean.

Each case starts ``manage.py`` in a fresh interpreter with exactly the
environment under test (settings are read once, at start-up).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL_KEY = "q8Vw2-9fLr_ZkT4mXcN0pBq7sYhJ3eGd6uAaR1oWiKlMnE5tP2vCxZbF8yHjU0gD"

# The production settings the README documents ("Production settings").
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": REAL_KEY,
    "DJANGO_ALLOWED_HOSTS": "workflows.example.com",
    "DJANGO_SECURE_COOKIES": "1",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto=https",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://workflows.example.com",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "WORKFLOWS_AUTH", "WORKFLOWS_CLIENT"))
    }
    clean["DJANGO_SETTINGS_MODULE"] = "project.settings"
    # A throwaway SQLite file: nothing here touches a database, but settings parse it.
    clean["DATABASE_URL"] = f"sqlite:///{tempfile.gettempdir()}/settings-test-{os.getpid()}.sqlite3"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "env",
    [
        {},  # DEBUG unset: off
        {"DJANGO_DEBUG": "0"},
        {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": ""},
        {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "dev-insecure-key-change-me-in-production"},
    ],
    ids=["debug-unset", "debug-off", "empty-key", "public-dev-key"],
)
def test_without_debug_a_missing_or_public_key_refuses_to_start(env):
    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_debug_is_off_unless_asked_for():
    probe = "from django.conf import settings; print(settings.DEBUG)"
    off = _manage("shell", "--no-imports", "-c", probe, env={"DJANGO_SECRET_KEY": REAL_KEY})
    on = _manage("shell", "--no-imports", "-c", probe, env={"DJANGO_DEBUG": "1"})

    assert (off.stdout.strip(), on.stdout.strip()) == ("False", "True"), off.stderr + on.stderr


def test_the_security_env_vars_reach_the_settings():
    probe = (
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, "
        "s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, s.SECURE_PROXY_SSL_HEADER)"
    )
    result = _manage("shell", "--no-imports", "-c", probe, env=PRODUCTION)

    assert result.stdout.strip() == (
        "True True True 31536000 True True ('HTTP_X_FORWARDED_PROTO', 'https')"
    ), result.stderr


def test_a_malformed_proxy_ssl_header_is_refused():
    result = _manage("check", env={"DJANGO_DEBUG": "1", "DJANGO_SECURE_PROXY_SSL_HEADER": "https"})

    assert result.returncode != 0
    assert "DJANGO_SECURE_PROXY_SSL_HEADER" in result.stderr
