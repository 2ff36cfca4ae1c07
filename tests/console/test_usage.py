"""The Usage & billing page, its CSV export and CPU on the instance page (test client)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from tests.console.conftest import PASSWORD, make_member
from workflows_app.models import Instance, Plan, StepAttempt, UsageDaily, Workflow
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)

NOW = dt.datetime(2026, 11, 10, 12, 0, tzinfo=dt.UTC)  # 10 of 30 days into 2026-11
GB = 10**9


@pytest.fixture
def today(clock):
    clock.current = NOW
    return NOW.date()


@pytest.fixture
def admin_client(client, member):
    user = member("ada", "admin")
    client.login(username=user.get_username(), password=PASSWORD)
    return client


def _plan(name: str, **fields) -> Plan:
    defaults = {
        "cpu_ms_per_step_limit": 30_000,
        "daily_invocations_limit": None,
        "storage_bytes_limit": None,
        "included_cpu_ms": 1_000,
        "included_invocations": 100,
        "included_storage_gb": Decimal(1),
        "price_per_million_cpu_ms": Decimal("0.02"),
        "price_per_million_invocations": Decimal("0.30"),
        "price_per_gb_month": Decimal("0.20"),
    }
    return Plan.objects.create(name=name, **{**defaults, **fields})


def _usage(account, workflow_name: str, day: dt.date, **counters) -> UsageDaily:
    workflow, _ = Workflow.objects.get_or_create(
        account=account, name=workflow_name, defaults={"class_name": "tests.Fake"}
    )
    return UsageDaily.objects.create(account=account, workflow=workflow, day=day, **counters)


def _row(html: str, row_id: str) -> str:
    """The text of one table row, tags dropped and whitespace squeezed."""
    match = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
    assert match, f"no row {row_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _usage_url(account, period: str | None = None) -> str:
    url = reverse("console:usage", args=[account.pk])
    return f"{url}?period={period}" if period else url


@pytest.fixture
def october(account):
    """A closed period: 3,000 ms CPU, 160 invocations, 3.1 GB kept all month."""
    account.plan = _plan("small")
    account.save()
    _usage(
        account,
        "wf-a",
        dt.date(2026, 10, 1),
        invocations=150,
        attempts=300,
        cpu_us=2_500_000,
        wall_us=10_000_000,
        stored_bytes_delta=31 * GB // 10,
    )
    _usage(
        account,
        "wf-b",
        dt.date(2026, 10, 2),
        invocations=10,
        attempts=20,
        cpu_us=500_000,
        wall_us=1_000_000,
    )
    return account


def test_admin_sees_the_statement_of_a_past_period(admin_client, october, today):
    response = admin_client.get(_usage_url(october, "2026-10"))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="plan-name">small<' in html
    assert _row(html, "statement-cpu") == (
        "CPU time 3,000 ms 1,000 ms 2,000 ms $0.02 per million ms $0.00004"
    )
    assert _row(html, "statement-invocations") == (
        "Invocations 160 invocations 100 invocations 60 invocations "
        "$0.30 per million invocations $0.000018"
    )
    assert _row(html, "statement-storage") == (
        "Storage 3.1 GB-month 1 GB-month 2.1 GB-month $0.20 per GB-month $0.42"
    )
    assert 'id="statement-total">$0.42<' in html
    assert "Projected" not in html  # a closed period has nothing to project
    text = _text(html)
    assert "You paid for 3,000 ms of CPU out of 11,000 ms of wall time (27 %)" in text
    workflows = _text(re.search(r'id="usage-by-workflow">(.*?)</table>', html, re.S).group(1))
    assert "wf-a 150 2,500 ms 10,000 ms 3,100,000,000" in workflows
    assert "wf-b 10 500 ms 1,000 ms 0" in workflows
    # Every day of October is drawn; the peak day is the axis' scale.
    cpu_chart = re.search(r'<figure class="chart" id="chart-cpu">(.*?)</figure>', html, re.S)
    assert cpu_chart.group(1).count('<rect class="bar"') == 31
    assert "<title>2026-10-01: 2,500 ms</title>" in cpu_chart.group(1)
    assert "(max on the axis: 2.5k ms)" in cpu_chart.group(1)
    assert '<th scope="row">2026-10-02</th><td>500 ms</td>' in cpu_chart.group(1)


def test_current_period_shows_the_projection_and_no_next_link(admin_client, october, today):
    _usage(october, "wf-a", dt.date(2026, 11, 2), invocations=1_000, cpu_us=100_000_000)

    html = admin_client.get(_usage_url(october)).content.decode()

    assert "Statement for 2026-11" in html
    # 100,000 ms in 10 days of 30: 300,000 ms projected, 299,000 over => $0.00598.
    assert _row(html, "statement-cpu").endswith("$0.00198 300,000 ms $0.00598")
    assert 'id="statement-projected">' in html
    assert 'rel="prev">← 2026-10<' in html
    assert 'rel="next"' not in html
    # Days still to come have no bar.
    cpu_chart = re.search(r'id="chart-cpu">(.*?)</figure>', html, re.S).group(1)
    assert cpu_chart.count('<rect class="bar"') == 10


def test_past_periods_stay_viewable_with_links_both_ways(admin_client, october, today):
    html = admin_client.get(_usage_url(october, "2026-09")).content.decode()

    assert "Statement for 2026-09" in html
    assert 'rel="prev">← 2026-08<' in html
    assert 'rel="next">2026-10 →<' in html
    assert 'id="statement-total">$0.00<' in html
    assert "No usage in 2026-09." in html


@pytest.mark.parametrize("period", ["<script>", "2026-13", "0001-01", "9999-12"])
def test_a_malformed_or_absurd_period_means_the_current_one(admin_client, october, today, period):
    response = admin_client.get(_usage_url(october, period))
    csv_response = admin_client.get(
        reverse("console:usage-csv", args=[october.pk]) + f"?period={period}"
    )

    html = response.content.decode()
    assert "Statement for 2026-11" in html
    assert "<script>" not in html.split("<main", 1)[1]
    assert "-2026-11.csv" in csv_response["Content-Disposition"]


@pytest.mark.parametrize("role", ["viewer", "operator", "approver"])
def test_non_admins_get_403_and_no_nav_link(client, account, member, role, today):
    user = member("vera", role)
    client.login(username=user.get_username(), password=PASSWORD)

    assert client.get(_usage_url(account)).status_code == 403
    assert client.get(reverse("console:usage-csv", args=[account.pk])).status_code == 403
    overview = client.get(reverse("console:overview", args=[account.pk])).content.decode()
    assert "Usage &amp; billing" not in overview


def test_admin_has_the_nav_link(admin_client, account, today):
    overview = admin_client.get(reverse("console:overview", args=[account.pk])).content.decode()

    assert f'href="/a/{account.pk}/usage/"' in overview


def test_admin_of_another_account_gets_404(client, account, other_account, today):
    outsider = make_member(other_account, "outsider", "admin")
    client.login(username=outsider.get_username(), password=PASSWORD)

    assert client.get(_usage_url(account)).status_code == 404
    assert client.get(reverse("console:usage-csv", args=[account.pk])).status_code == 404


def test_csv_has_one_row_per_day_up_to_today(admin_client, account, clock):
    clock.current = dt.datetime(2026, 11, 3, 9, 0, tzinfo=dt.UTC)
    _usage(account, "wf-a", dt.date(2026, 10, 20), stored_bytes_delta=1_000)
    _usage(
        account,
        "wf-a",
        dt.date(2026, 11, 2),
        invocations=5,
        attempts=12,
        cpu_us=1_234_567,
        wall_us=9_000_000,
        stored_bytes_delta=2_048,
    )

    response = admin_client.get(reverse("console:usage-csv", args=[account.pk]) + "?period=2026-11")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="usage-{account.pk}-2026-11.csv"'
    )
    assert response.content.decode() == (
        "day,invocations,attempts,cpu_ms,wall_ms,stored_bytes\r\n"
        "2026-11-01,0,0,0,0,1000\r\n"
        "2026-11-02,5,12,1234.567,9000,3048\r\n"
        "2026-11-03,0,0,0,0,3048\r\n"
    )


def test_alerts_at_80_and_100_percent_of_limits(admin_client, account, today):
    account.plan = _plan(
        "tight",
        daily_invocations_limit=100,
        storage_bytes_limit=1_000,
        included_cpu_ms=0,
        included_invocations=0,
        price_per_million_cpu_ms=Decimal(0),
        price_per_million_invocations=Decimal(0),
        price_per_gb_month=Decimal(0),
    )
    account.save()
    _usage(account, "wf-a", today, invocations=85, stored_bytes_delta=1_000)

    html = admin_client.get(_usage_url(account)).content.decode()

    alerts = _text(re.search(r'<section class="alerts".*?</section>', html, re.S).group(0))
    assert (
        "Warning: Daily invocations at 85 % of the limit: 85 of 100 allowed today (UTC)."
    ) in alerts
    assert "Limit reached: Storage: 1 kB of 1 kB allowed now (100 %)" in alerts
    assert "new instances are refused" in alerts
    assert 'id="gauge-limit-invocations" max="100" value="85.0"' in html
    assert 'id="gauge-limit-storage" max="100" value="100.0"' in html
    assert "CPU per step: at most 30,000 ms per attempt" in _text(html)


def test_alerts_at_80_and_100_percent_of_included_amounts(admin_client, account, today):
    account.plan = _plan("small", included_cpu_ms=1_000, included_invocations=100)
    account.save()
    _usage(account, "wf-a", dt.date(2026, 11, 1), invocations=120, cpu_us=800_000)

    html = admin_client.get(_usage_url(account)).content.decode()

    alerts = _text(re.search(r'<section class="alerts".*?</section>', html, re.S).group(0))
    assert (
        "Warning: CPU time at 80 % of the included amount: 800 of 1,000 ms included in 2026-11."
    ) in alerts
    assert (
        "Over the included amount: Invocations: 120 of 100 included in 2026-11 (120 %); "
        "usage beyond the included amount is billed."
    ) in alerts
    assert "Storage" not in alerts  # 0 bytes stored: no alert
    assert 'id="gauge-included-invocations" max="100" value="100"' in html  # capped


def test_no_alert_banner_under_80_percent(admin_client, account, today):
    account.plan = _plan("small")
    account.save()
    _usage(account, "wf-a", dt.date(2026, 11, 1), invocations=79, cpu_us=100_000)

    html = admin_client.get(_usage_url(account)).content.decode()

    assert 'class="alerts"' not in html
    assert "79 of 100 included in 2026-11" in _text(html)


def test_instance_page_shows_cpu_and_its_cost(admin_client, account, today):
    get_workflow("code-review", account=account).create(
        id="pr-1", params={"repo": "acme/api", "number": 1, "title": "T", "author": "bob"}
    )
    instance = Instance.objects.get()
    attempts = StepAttempt.objects.filter(step__instance=instance).order_by("pk")
    attempts.update(cpu_ms=0)
    StepAttempt.objects.filter(pk=attempts[0].pk).update(cpu_ms=12.5)
    Instance.objects.filter(pk=instance.pk).update(replay_cpu_us=500)

    response = admin_client.get(
        reverse("console:instance", args=[account.pk, "code-review", "pr-1"])
    )

    html = response.content.decode()
    cpu = _text(re.search(r'<dd id="instance-cpu">.*?</dd>', html, re.S).group(0))
    assert cpu == "13 ms (12.5 ms in steps, 0.5 ms replaying)"
    cost = _text(re.search(r'<dd id="instance-cpu-cost">.*?</dd>', html, re.S).group(0))
    assert cost == "$0.00000026 at $0.02 per million ms"  # 13 x 0.02 / 1e6
    assert "1 attempt · CPU 12.5 ms" in html
