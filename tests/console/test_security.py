"""Console hardening: throttled sign-in, a Content-Security-Policy, no inline script or style."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from tests.console.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
_addresses = itertools.count(1)


def _address() -> str:
    # Each test its own client address: the throttle's cache outlives transactional tests.
    return f"10.88.{next(_addresses)}.{next(_addresses) % 250}"


@pytest.fixture
def throttled(settings):
    settings.WORKFLOWS_AUTH_FAILURES_PER_CLIENT = 6
    settings.WORKFLOWS_AUTH_FAILURES_PER_NAME = 3
    settings.WORKFLOWS_AUTH_FAILURE_WINDOW_SECONDS = 600
    cache.clear()  # the cache table outlives transactional tests
    yield settings
    cache.clear()


def _sign_in(client: Client, username: str, password: str):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_after_too_many_wrong_passwords_even_the_right_one_is_refused(throttled, member):
    user = member("vera", "viewer")
    client = Client(REMOTE_ADDR=_address())
    wrong = [_sign_in(client, "vera", f"guess {n}") for n in range(3)]

    right = _sign_in(client, "vera", PASSWORD)

    assert [r.status_code for r in wrong] == [200, 200, 200]  # the form again, with its error
    assert right.status_code == 429
    assert 1 <= int(right["Retry-After"]) <= 600
    assert "Too many failed sign-in attempts. Try again in" in right.content.decode()
    assert "_auth_user_id" not in client.session
    # another username from another address is not affected
    other = member("otto", "operator")
    assert (
        _sign_in(Client(REMOTE_ADDR=_address()), other.get_username(), PASSWORD).status_code == 302
    )
    assert user.is_active


def test_one_address_trying_many_usernames_is_throttled(throttled, member):
    member("vera", "viewer")
    address = _address()
    client = Client(REMOTE_ADDR=address)
    for n in range(6):
        assert _sign_in(client, f"nobody-{n}", "x").status_code == 200

    assert _sign_in(client, "vera", PASSWORD).status_code == 429


def test_a_successful_sign_in_clears_the_usernames_failures(throttled, member):
    member("vera", "viewer")
    address = _address()
    client = Client(REMOTE_ADDR=address)
    _sign_in(client, "vera", "wrong")
    _sign_in(client, "vera", "wrong")
    assert _sign_in(client, "vera", PASSWORD).status_code == 302
    client.logout()

    _sign_in(client, "vera", "wrong")
    _sign_in(client, "vera", "wrong")

    assert _sign_in(client, "vera", PASSWORD).status_code == 302


def test_console_pages_carry_a_csp_without_unsafe_inline(client, member):
    user = member("vera", "viewer")
    client.login(username=user.get_username(), password=PASSWORD)

    for path in ("/accounts/login/", "/"):
        response = client.get(path, follow=True)
        policy = response["Content-Security-Policy"]
        directives = dict(
            [*part.split(" ", 1), ""][:2] for part in (p.strip() for p in policy.split(";"))
        )
        assert directives["default-src"] == "'self'"
        assert directives["script-src"].startswith("'self'")
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert directives["frame-ancestors"] == "'none'"
        assert directives["object-src"] == "'none'"


def test_htmx_is_told_not_to_inject_its_indicator_style(client, member):
    user = member("vera", "viewer")
    client.login(username=user.get_username(), password=PASSWORD)

    html = client.get("/", follow=True).content.decode()

    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>' in html


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_inline_script_style_or_handler(template):
    text = template.read_text()

    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "inline <script>"
    assert not re.search(r"<style\b", text), "inline <style>"
    assert not re.search(r"\sstyle=", text), "style attribute"
    assert not re.search(r"\son[a-z]+=", text), "event handler attribute"
    assert not re.search(r"hx-on|javascript:", text), "inline handler"
    # htmx trigger filters ("[...]") are evaluated with eval, which the CSP forbids
    assert not re.search(r'hx-trigger="[^"]*\[', text), "hx-trigger filter"


def test_the_admin_sign_in_is_throttled_too(throttled, member):
    client = Client(REMOTE_ADDR=_address())
    for n in range(3):
        client.post("/admin/login/", {"username": "root", "password": f"guess {n}"})

    response = client.post("/admin/login/", {"username": "root", "password": "guess 4"})

    assert "Too many failed sign-in attempts" in response.content.decode()


def _request_from_an_environment_with_passwords(rf):
    # The password is assembled here, so no source line or local the page shows spells it.
    password = "".join(["hun", "ter", "2"])
    return rf.get(
        "/",
        DATABASE_URL=f"postgres://app:{password}@db/app",
        CELERY_BROKER_URL=f"redis://:{password}@redis:6379/0",
    )


def test_error_reports_hide_connection_urls_from_the_environment(rf, settings):
    from django.views.debug import ExceptionReporter

    settings.DEBUG = True
    request = _request_from_an_environment_with_passwords(rf)
    try:
        raise ValueError("boom")
    except ValueError as exc:
        html = ExceptionReporter(request, type(exc), exc, exc.__traceback__).get_traceback_html()

    password = "".join(["hun", "ter", "2"])  # assembled after the page was made
    assert password not in html
    assert "DATABASE_URL" in html


def test_a_missing_cache_table_never_locks_anyone_out(throttled, member):
    member("vera", "viewer")
    client = Client(REMOTE_ADDR=_address())
    table = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "no_such"}
    with override_settings(CACHES={"default": table}):
        wrong = [_sign_in(client, "vera", f"guess {n}").status_code for n in range(4)]
        right = _sign_in(client, "vera", PASSWORD).status_code

    assert (wrong, right) == ([200] * 4, 302)


def test_concurrent_failures_from_several_connections_are_all_counted(throttled, rf):
    # Each thread has its own database connection, as separate web processes do.
    import threading

    from django.db import connection

    from workflows_app import throttle

    throttled.WORKFLOWS_AUTH_FAILURES_PER_NAME = 8
    found = throttle.subjects(rf.get("/", REMOTE_ADDR=_address()), kind="signin", name="race")
    start = threading.Barrier(8)

    def fail() -> None:
        start.wait()
        try:
            throttle.record_failure(found)
        finally:
            connection.close()

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(cache.get_many(found[1].slots())) == 8
    assert throttle.retry_after(found) is not None
