"""Price arithmetic at the boundaries, in Decimal, and the projection to period end."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from workflows_app import billing
from workflows_app.billing.plans import plan_named
from workflows_app.models import UsageDaily, Workflow

pytestmark = pytest.mark.django_db

NOVEMBER = billing.Period.of(dt.date(2026, 11, 1))  # 30 days, entirely past on Dec 1
DECEMBER_1 = dt.date(2026, 12, 1)


@pytest.fixture
def workflow(account) -> Workflow:
    return Workflow.objects.create(account=account, name="billed", class_name="x")


def _usage(workflow, day, **counters) -> None:
    UsageDaily.objects.create(account=workflow.account, workflow=workflow, day=day, **counters)


def _line(meter: str, *, today=DECEMBER_1, account=None, workflow=None):
    statement = billing.statement(account=workflow.account, period=NOVEMBER, today=today)
    return next(line for line in statement.lines if line.meter == meter), statement


@pytest.mark.parametrize(
    ("cpu_ms", "overage", "cost"),
    [
        (30_000_000, Decimal(0), Decimal(0)),
        (30_000_001, Decimal(1), Decimal("0.00000002")),
        (31_000_000, Decimal(1_000_000), Decimal("0.02")),
    ],
)
def test_cpu_at_and_one_ms_over_the_included_30_million(workflow, cpu_ms, overage, cost):
    _usage(workflow, dt.date(2026, 11, 5), cpu_us=cpu_ms * 1000)

    line, _ = _line("cpu", workflow=workflow)

    assert (line.usage, line.overage, line.cost) == (Decimal(cpu_ms), overage, cost)


@pytest.mark.parametrize(
    ("invocations", "overage", "cost"),
    [
        (10_000_000, Decimal(0), Decimal(0)),
        (10_000_001, Decimal(1), Decimal("0.0000003")),
        (12_000_000, Decimal(2_000_000), Decimal("0.6")),
    ],
)
def test_invocations_at_and_one_over_the_included_10_million(workflow, invocations, overage, cost):
    _usage(workflow, dt.date(2026, 11, 5), invocations=invocations)

    line, _ = _line("invocations", workflow=workflow)

    assert (line.overage, line.cost) == (overage, cost)


@pytest.mark.parametrize(
    ("bytes_per_day", "overage", "cost"),
    [
        (10**9, Decimal(0), Decimal(0)),  # exactly 1 GB all month = 1 GB-month
        (10**9 + 1, Decimal("1E-9"), Decimal("2E-10")),  # one byte over, all month
        (3 * 10**9, Decimal(2), Decimal("0.4")),
    ],
)
def test_storage_at_and_one_byte_over_the_included_gb_month(workflow, bytes_per_day, overage, cost):
    _usage(workflow, NOVEMBER.start, stored_bytes_delta=bytes_per_day)  # stays all month

    line, _ = _line("storage", workflow=workflow)

    assert (line.overage, line.cost) == (overage, cost)


def test_the_total_is_the_sum_rounded_to_the_cent(workflow):
    _usage(workflow, dt.date(2026, 11, 5), cpu_us=31_000_000 * 1000, invocations=12_000_000)

    _, statement = _line("cpu", workflow=workflow)

    assert statement.total == Decimal("0.62")


def test_free_plan_costs_nothing_whatever_the_usage(workflow):
    account = workflow.account
    account.plan = plan_named("free")
    account.save()
    _usage(workflow, dt.date(2026, 11, 5), cpu_us=10**12, invocations=10**8)

    _, statement = _line("cpu", workflow=workflow)

    assert statement.total == Decimal("0.00")


def test_projection_scales_the_usage_so_far_to_the_whole_period(workflow):
    # Ten days into November, 40 million CPU ms used: 120 million by the end.
    _usage(workflow, dt.date(2026, 11, 3), cpu_us=40_000_000 * 1000)

    statement = billing.statement(
        account=workflow.account, period=NOVEMBER, today=dt.date(2026, 11, 10)
    )

    assert statement.is_current
    assert statement.days_elapsed == 10
    projected = next(line for line in statement.projected_lines if line.meter == "cpu")
    assert projected.usage == Decimal(120_000_000)
    assert projected.cost == Decimal("1.8")  # 90 million over, at $0.02 per million
    assert statement.total == Decimal("0.20")


def test_past_periods_stay_viewable_and_do_not_project(workflow):
    _usage(workflow, dt.date(2026, 10, 20), invocations=11_000_000)

    october = billing.statement(
        account=workflow.account, period=NOVEMBER.previous(), today=DECEMBER_1
    )

    assert october.period.label == "2026-10"
    assert not october.is_current
    assert october.projected_total == october.total == Decimal("0.30")
