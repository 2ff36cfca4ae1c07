"""Usage per period and the billing statement, in Decimal (never floats).

A billing period is a calendar month (UTC). Storage accrues as GB-month: the
bytes stored at the end of each day, averaged over the days of the period.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Sum

from workflows_app.billing import plans
from workflows_app.models import Account, Instance, StepAttempt, UsageDaily

GB = Decimal(10**9)  # billing gigabytes are decimal
MILLION = Decimal(10**6)
CENT = Decimal("0.01")


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
        try:
            return cls.of(dt.datetime.strptime(label, "%Y-%m").date())
        except ValueError:
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


def top_instances_by_cpu(*, account: Account, period: Period, limit: int = 10) -> list[dict]:
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
        {
            "workflow": names[r["step__instance"]][0],
            "instance_id": names[r["step__instance"]][1],
            "cpu_ms": r["cpu_ms"],
            "wall_ms": r["wall_ms"],
        }
        for r in rows
    ]


# --- the statement ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeterLine:
    meter: str  # "cpu", "invocations", "storage"
    unit: str  # what usage is counted in
    usage: Decimal
    included: Decimal
    overage: Decimal
    unit_price: Decimal  # per million ms / per million invocations / per GB-month
    cost: Decimal  # exact; only the total is rounded


def _line(meter: str, unit: str, usage: Decimal, included: Decimal, price: Decimal, per: Decimal):
    overage = max(Decimal(0), usage - included)
    return MeterLine(
        meter=meter,
        unit=unit,
        usage=usage,
        included=included,
        overage=overage,
        unit_price=price,
        cost=overage * price / per,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Statement:
    period: Period
    plan: str
    lines: list[MeterLine]
    total: Decimal  # rounded to the cent
    days_elapsed: int
    projected_lines: list[MeterLine]  # at the current rate to the end of the period
    projected_total: Decimal

    @property
    def is_current(self) -> bool:
        return self.days_elapsed < self.period.days


def _lines(plan, *, cpu_ms: Decimal, invocations: Decimal, gb_month: Decimal) -> list[MeterLine]:
    return [
        _line(
            "cpu",
            "ms",
            cpu_ms,
            Decimal(plan.included_cpu_ms),
            plan.price_per_million_cpu_ms,
            MILLION,
        ),
        _line(
            "invocations",
            "invocations",
            invocations,
            Decimal(plan.included_invocations),
            plan.price_per_million_invocations,
            MILLION,
        ),
        _line(
            "storage",
            "GB-month",
            gb_month,
            plan.included_storage_gb,
            plan.price_per_gb_month,
            Decimal(1),
        ),
    ]


def _total(lines: list[MeterLine]) -> Decimal:
    return sum((line.cost for line in lines), Decimal(0)).quantize(CENT, ROUND_HALF_UP)


def statement(*, account: Account, period: Period, today: dt.date) -> Statement:
    """Usage, included amounts, overage and cost per meter, with a projection."""
    plan = plans.plan_of(account)
    days = usage_by_day(account=account, period=period)
    elapsed = min(period.days, max(0, (today - period.start).days + 1))
    cpu_ms = sum((d.cpu_ms for d in days), Decimal(0))
    invocations = Decimal(sum(d.invocations for d in days))
    lived = days[:elapsed] if elapsed else []
    byte_days = sum(Decimal(d.stored_bytes) for d in lived)
    lines = _lines(
        plan,
        cpu_ms=cpu_ms,
        invocations=invocations,
        gb_month=byte_days / GB / period.days,
    )
    if 0 < elapsed < period.days:
        factor = Decimal(period.days) / Decimal(elapsed)
        # Storage: today's bytes are assumed to stay for the rest of the period.
        remaining = Decimal(period.days - elapsed) * Decimal(lived[-1].stored_bytes)
        projected = _lines(
            plan,
            cpu_ms=cpu_ms * factor,
            invocations=invocations * factor,
            gb_month=(byte_days + remaining) / GB / period.days,
        )
    else:
        projected = lines
    return Statement(
        period=period,
        plan=plan.name,
        lines=lines,
        total=_total(lines),
        days_elapsed=elapsed,
        projected_lines=projected,
        projected_total=_total(projected),
    )
