"""Usage reads: what an account used per day, per workflow and per instance in a period.

A billing period is a calendar month (UTC). The day and workflow totals come from
the meters (``UsageDaily``); the per-instance CPU ranking comes from the step
attempts themselves, because the meters are not kept per instance.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from workflows_app.models import Account, Instance, StepAttempt, UsageDaily


@dataclasses.dataclass(frozen=True)
class Period:
    start: dt.date  # the first day of the month
    end: dt.date  # the last day of the month

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m")

    @classmethod
    def of(cls, day: dt.date) -> Period:
        last = calendar.monthrange(day.year, day.month)[1]
        return cls(day.replace(day=1), day.replace(day=last))

    @classmethod
    def parse(cls, label: str, *, default: dt.date) -> Period:
        """``YYYY-MM``; anything else means the period containing ``default``."""
        year, _, month = label.partition("-")
        if len(year) == 4 and len(month) == 2 and year.isdigit() and month.isdigit():
            try:
                return cls.of(dt.date(int(year), int(month), 1))
            except ValueError:  # month 00 or 13+
                pass
        return cls.of(default)

    def previous(self) -> Period:
        return Period.of(self.start - dt.timedelta(days=1))

    def next(self) -> Period:
        return Period.of(self.end + dt.timedelta(days=1))


@dataclasses.dataclass(frozen=True, kw_only=True)
class DayUsage:
    day: dt.date
    invocations: int
    attempts: int
    cpu_ms: Decimal
    wall_ms: Decimal
    stored_bytes: int  # at the end of the day


def _ms(microseconds: int | None) -> Decimal:
    return Decimal(microseconds or 0) / 1000


def usage_by_day(*, account: Account, period: Period) -> list[DayUsage]:
    """Every day of the period, zeros included (charts want a full axis)."""
    rows: dict[dt.date, dict[str, Any]] = {
        r["day"]: dict(r)
        for r in UsageDaily.objects.filter(
            account=account, day__gte=period.start, day__lte=period.end
        )
        .values("day")
        .annotate(
            invocations=Sum("invocations"),
            attempts=Sum("attempts"),
            cpu_us=Sum("cpu_us"),
            wall_us=Sum("wall_us"),
            stored=Sum("stored_bytes_delta"),
        )
    }
    stored = (
        UsageDaily.objects.filter(account=account, day__lt=period.start).aggregate(
            n=Sum("stored_bytes_delta")
        )["n"]
        or 0
    )
    days = []
    for offset in range(period.days):
        day = period.start + dt.timedelta(days=offset)
        row = rows.get(day, {})
        stored += row.get("stored") or 0
        days.append(
            DayUsage(
                day=day,
                invocations=row.get("invocations") or 0,
                attempts=row.get("attempts") or 0,
                cpu_ms=_ms(row.get("cpu_us")),
                wall_ms=_ms(row.get("wall_us")),
                stored_bytes=stored,
            )
        )
    return days


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkflowUsage:
    workflow: str
    invocations: int
    cpu_ms: Decimal
    wall_ms: Decimal
    stored_bytes_delta: int


def usage_by_workflow(*, account: Account, period: Period) -> list[WorkflowUsage]:
    rows = (
        UsageDaily.objects.filter(account=account, day__gte=period.start, day__lte=period.end)
        .values("workflow__name")
        .annotate(
            invocations=Sum("invocations"),
            cpu_us=Sum("cpu_us"),
            wall_us=Sum("wall_us"),
            stored=Sum("stored_bytes_delta"),
        )
        .order_by("-cpu_us")
    )
    return [
        WorkflowUsage(
            workflow=r["workflow__name"],
            invocations=r["invocations"] or 0,
            cpu_ms=_ms(r["cpu_us"]),
            wall_ms=_ms(r["wall_us"]),
            stored_bytes_delta=r["stored"] or 0,
        )
        for r in rows
    ]


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstanceUsage:
    """One instance's step attempts in a period: the CPU and wall time they used."""

    workflow: str
    instance_id: str
    cpu_ms: float  # the sum of ``StepAttempt.cpu_ms`` (a float column), not rounded
    wall_ms: float


def top_instances_by_cpu(
    *, account: Account, period: Period, limit: int = 10
) -> list[InstanceUsage]:
    """The instances whose step attempts used the most CPU in the period."""
    start = dt.datetime.combine(period.start, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    rows = (
        StepAttempt.objects.filter(
            step__instance__account=account, ended_at__gte=start, ended_at__lt=end
        )
        .values("step__instance")
        .annotate(cpu_ms=Sum("cpu_ms"), wall_ms=Sum("wall_ms"))
        .order_by("-cpu_ms")[:limit]
    )
    names: dict[Any, tuple[str, str]] = {
        pk: (workflow, instance_id)
        for pk, workflow, instance_id in Instance.objects.filter(
            pk__in=[r["step__instance"] for r in rows]
        ).values_list("pk", "workflow__name", "instance_id")
    }
    return [
        InstanceUsage(
            workflow=names[r["step__instance"]][0],
            instance_id=names[r["step__instance"]][1],
            cpu_ms=r["cpu_ms"],
            wall_ms=r["wall_ms"],
        )
        for r in rows
    ]
