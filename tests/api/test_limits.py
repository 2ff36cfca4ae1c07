"""Cloudflare's creation-rate and daily-invocation limits: 429 + Retry-After, nothing created."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.api.conftest import error_of
from workflows_app.models import Instance, Plan

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def a(account_a) -> str:
    return f"accounts/{account_a.pk}/workflows"


@pytest.fixture
def noon(clock):
    clock.current = dt.datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=dt.UTC)
    return clock


def test_per_workflow_rate_is_429_with_retry_after(api, a, enabled, noon, settings):
    settings.WORKFLOWS_API_CREATE_RATE_PER_WORKFLOW = 2
    url = f"{a}/api-echo/instances"
    assert api.post(url, {"instance_id": "r1"}).status_code == 200
    assert (
        api.post(f"{url}/batch", [{"instance_id": "r2"}, {"instance_id": "r3"}]).status_code == 200
    )

    limited = api.post(url, {"instance_id": "r4"})

    assert limited.status_code == 429
    assert limited["Retry-After"] == "1"
    assert error_of(limited) == {
        "code": 971,
        "message": "Instance creation rate limit exceeded: 2 per second for workflow "
        "'api-echo'; retry after 1 s",
    }
    assert not Instance.objects.filter(instance_id="r4").exists()
    # another workflow of the account has its own budget
    assert api.post(f"{a}/api-sleeper/instances", {"instance_id": "s1"}).status_code == 200
    noon.advance(1)
    assert api.post(url, {"instance_id": "r4"}).status_code == 200


def test_per_account_rate(api, a, enabled, noon, settings):
    settings.WORKFLOWS_API_CREATE_RATE_PER_ACCOUNT = 1
    assert api.post(f"{a}/api-echo/instances", {}).status_code == 200
    limited = api.post(f"{a}/api-sleeper/instances", {})
    assert limited.status_code == 429
    assert "1 per second per account" in error_of(limited)["message"]


def test_daily_invocations_count_instances_and_reset_at_midnight(api, a, account_a, enabled, noon):
    # the one daily-invocations limit is the plan's
    account_a.plan = Plan.objects.create(name="three-a-day", daily_invocations_limit=3)
    account_a.save(update_fields=["plan"])
    url = f"{a}/api-echo/instances"
    assert api.post(f"{url}/batch", [{}, {}]).status_code == 200
    noon.advance(1)
    assert api.post(f"{url}/batch", [{}, {}]).status_code == 429
    limited = api.post(url, {"instance_id": "third"})
    assert limited.status_code == 200  # one instance still fits
    noon.advance(1)
    limited = api.post(url, {})
    assert limited.status_code == 429
    assert limited["Retry-After"] == str(12 * 3600 - 2)  # until 00:00 UTC
    assert error_of(limited) == {
        "code": 971,
        "message": "Daily invocation limit reached: 3 of 3 instances created today "
        "(plan three-a-day); the count resets at 00:00 UTC",
    }
    assert Instance.objects.count() == 3
    noon.advance(dt.timedelta(hours=12))
    assert api.post(url, {}).status_code == 200
