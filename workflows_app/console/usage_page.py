"""The Usage & billing page and its CSV export, assembled from billing's reads.

Everything shown is computed here (gauges, alerts, chart geometry, statement
rows); the template only prints. Quantities and money are Decimal throughout.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from workflows_app import billing
from workflows_app.billing import DayUsage, Period, plans, quotas
from workflows_app.console.formatting import (
    format_bytes,
    format_compact,
    format_percent,
    format_quantity,
    to_decimal,
)
from workflows_app.models import Account, Plan

WARN_AT = Decimal(80)  # percent of a quota or limit
OVER_AT = Decimal(100)
HUNDRED = Decimal(100)


# --- gauges and alerts ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Gauge:
    """One progress bar: usage against an included amount or a hard limit."""

    key: str
    label: str
    kind: str  # "included" (billed beyond) or "limit" (refused beyond)
    used: Decimal
    cap: Decimal
    used_text: str
    cap_text: str
    scope: str  # "in 2026-11", "today (UTC)", "now"

    @property
    def percent(self) -> Decimal:
        if not self.cap:
            return Decimal(0)
        return (self.used * HUNDRED / self.cap).quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def percent_text(self) -> str:
        return format_percent(self.percent)

    @property
    def bar_value(self) -> str:
        """The <progress> value: capped at its max so an overrun still draws full."""
        return format(min(self.percent, HUNDRED), "f")

    @property
    def level(self) -> str:
        if self.percent >= OVER_AT:
            return "over"
        if self.percent >= WARN_AT:
            return "warning"
        return "ok"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Alert:
    level: str  # "warning" or "over"
    heading: str  # words, so the level never rests on colour
    text: str


def _alert(gauge: Gauge, plan: Plan) -> Alert | None:
    figures = f"{gauge.used_text} of {gauge.cap_text} {gauge.scope} ({gauge.percent_text} %)"
    if gauge.level == "ok":
        return None
    if gauge.level == "warning":
        what = "included amount" if gauge.kind == "included" else "limit"
        return Alert(
            level="warning",
            heading="Warning",
            text=f"{gauge.label} at {gauge.percent_text} % of the {what}: "
            f"{gauge.used_text} of {gauge.cap_text} {gauge.scope}.",
        )
    if gauge.kind == "included":
        return Alert(
            level="over",
            heading="Over the included amount",
            text=f"{gauge.label}: {figures}; usage beyond the included amount is billed.",
        )
    consequence = {
        "invocations": "new instances are refused until 00:00 UTC",
        "storage": (
            "new instances are refused until storage drops (finished instances are "
            f"purged after {plan.retention_days} days)"
        ),
    }.get(gauge.key, "work over the limit is refused")
    return Alert(
        level="over",
        heading="Limit reached",
        text=f"{gauge.label}: {figures}; {consequence}.",
    )


_METER_LABELS = {"cpu": "CPU time", "invocations": "Invocations", "storage": "Storage"}


def _included_gauges(plan: Plan, statement: billing.Statement) -> list[Gauge]:
    """Included amounts matter where usage beyond them costs something."""
    gauges = []
    for line in statement.lines:
        if not line.included or not line.unit_price:
            continue
        places = 6 if line.meter == "storage" else 0
        unit = "" if line.meter == "invocations" else f" {line.unit}"
        gauges.append(
            Gauge(
                key=line.meter,
                label=_METER_LABELS[line.meter],
                kind="included",
                used=line.usage,
                cap=line.included,
                used_text=format_quantity(line.usage, places),
                cap_text=f"{format_quantity(line.included, places)}{unit} included",
                scope=f"in {statement.period.label}",
            )
        )
    return gauges


def _limit_gauges(plan: Plan, account: Account, today: dt.date) -> list[Gauge]:
    gauges = []
    if plan.daily_invocations_limit is not None:
        used = quotas.invocations_on(account, today)
        gauges.append(
            Gauge(
                key="invocations",
                label="Daily invocations",
                kind="limit",
                used=Decimal(used),
                cap=Decimal(plan.daily_invocations_limit),
                used_text=format_quantity(used),
                cap_text=f"{format_quantity(plan.daily_invocations_limit)} allowed",
                scope="today (UTC)",
            )
        )
    if plan.storage_bytes_limit is not None:
        stored = quotas.account_stored_bytes(account)
        gauges.append(
            Gauge(
                key="storage",
                label="Storage",
                kind="limit",
                used=Decimal(stored),
                cap=Decimal(plan.storage_bytes_limit),
                used_text=format_bytes(stored),
                cap_text=f"{format_bytes(plan.storage_bytes_limit)} allowed",
                scope="now",
            )
        )
    return gauges


# --- charts -------------------------------------------------------------------------------

CHART_WIDTH = 640
CHART_HEIGHT = 170
_LEFT, _RIGHT, _TOP, _BASE = Decimal(60), Decimal(632), Decimal(14), Decimal(140)
_TENTH = Decimal("0.1")


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 times 10**n at or above ``value`` (the axis maximum)."""
    if value <= 0:
        return Decimal(1)
    base = Decimal(10) ** value.adjusted()
    for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if value <= step * base:
            return step * base
    return 10 * base  # unreachable: 10 * base always exceeds value


@dataclasses.dataclass(frozen=True, kw_only=True)
class Bar:
    day: dt.date
    value: Decimal | None  # None: a day still to come
    value_text: str  # the figure alone (for the data table)
    title: str  # the day and the figure (the bar's tooltip)
    x: str
    y: str
    width: str
    height: str
    label: str  # the day of the month under some bars, "" under the rest
    label_x: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Chart:
    key: str
    title: str
    unit: str
    summary: str  # the chart's accessible description
    axis_max_text: str
    bars: list[Bar]
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def left(self) -> str:
        return str(_LEFT)

    @property
    def right(self) -> str:
        return str(_RIGHT)

    @property
    def top(self) -> str:
        return str(_TOP)

    @property
    def base(self) -> str:
        return str(_BASE)

    @property
    def label_y(self) -> str:
        return str(_BASE + 18)


def _chart(
    key: str,
    title: str,
    unit: str,
    days: list[DayUsage],
    today: dt.date,
    value_of: Any,
    text_of: Any,
) -> Chart:
    lived = [d for d in days if d.day <= today]
    values = [to_decimal(value_of(d)) for d in lived]
    peak = max(values, default=Decimal(0))
    axis_max = nice_ceiling(peak)
    slot = (_RIGHT - _LEFT) / len(days)
    width = (slot * Decimal("0.72")).quantize(_TENTH)
    bars = []
    for index, day in enumerate(days):
        value = values[index] if day.day <= today else None
        height = ((value or 0) * (_BASE - _TOP) / axis_max).quantize(_TENTH)
        x = (_LEFT + slot * index + (slot - width) / 2).quantize(_TENTH)
        labelled = day.day.day in {1, 8, 15, 22, 29}
        bars.append(
            Bar(
                day=day.day,
                value=value,
                value_text=text_of(day) if value is not None else "no data yet",
                title=f"{day.day.isoformat()}: {text_of(day)}",
                x=str(x),
                y=str(_BASE - height),
                width=str(width),
                height=str(height),
                label=str(day.day.day) if labelled else "",
                label_x=str((x + width / 2).quantize(_TENTH)),
            )
        )
    summary_total = (
        f"peak {text_of(lived[values.index(peak)])} on {lived[values.index(peak)].day}"
        if lived and peak
        else "no usage recorded in this period"
    )
    return Chart(
        key=key,
        title=title,
        unit=unit,
        summary=f"{len(lived)} days shown; {summary_total}.",
        axis_max_text=format_compact(axis_max, unit),
        bars=bars,
    )


def _charts(days: list[DayUsage], today: dt.date) -> list[Chart]:
    return [
        _chart(
            "cpu",
            "CPU time per day",
            "ms",
            days,
            today,
            lambda d: d.cpu_ms,
            lambda d: f"{format_quantity(d.cpu_ms)} ms",
        ),
        _chart(
            "invocations",
            "Invocations per day",
            "",
            days,
            today,
            lambda d: d.invocations,
            lambda d: f"{format_quantity(d.invocations)} invocations",
        ),
        _chart(
            "storage",
            "Bytes stored at the end of each day",
            "B",
            days,
            today,
            lambda d: d.stored_bytes,
            lambda d: format_bytes(d.stored_bytes),
        ),
    ]


def parse_period(label: str, *, today: dt.date) -> Period:
    """``YYYY-MM`` from the query string; malformed or absurd (year 1, 9999) means now."""
    period = Period.parse(label, default=today)
    if not 2000 <= period.start.year <= today.year + 1:
        return Period.of(today)
    return period


# --- the page ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class CpuVsWall:
    cpu_ms: Decimal
    wall_ms: Decimal

    @property
    def percent_text(self) -> str:
        if not self.wall_ms:
            return "0"
        return format_percent(self.cpu_ms * HUNDRED / self.wall_ms)


@dataclasses.dataclass(frozen=True, kw_only=True)
class StatementRow:
    line: billing.MeterLine
    projected: billing.MeterLine
    label: str
    places: int  # decimals worth showing for this meter's quantities
    unit: str
    price_unit: str  # what the unit price is per


def _statement_rows(statement: billing.Statement) -> list[StatementRow]:
    return [
        StatementRow(
            line=line,
            projected=projected,
            label=_METER_LABELS[line.meter],
            places={"cpu": 3, "invocations": 0, "storage": 6}[line.meter],
            unit=line.unit,
            price_unit="GB-month" if line.meter == "storage" else f"million {line.unit}",
        )
        for line, projected in zip(statement.lines, statement.projected_lines, strict=True)
    ]


@dataclasses.dataclass(frozen=True, kw_only=True)
class UsagePage:
    plan: Plan
    period: Period
    previous: Period
    next: Period | None  # None when it has not started yet
    as_of: dt.datetime
    statement: billing.Statement
    rows: list[StatementRow]
    projecting: bool  # the period is under way: show the projection to its end
    included: list[Gauge]
    limits: list[Gauge]
    alerts: list[Alert]
    charts: list[Chart]
    workflows: list[billing.WorkflowUsage]
    top_instances: list[billing.InstanceUsage]
    cpu_vs_wall: CpuVsWall


def usage_page(*, account: Account, period: Period, now: dt.datetime) -> UsagePage:
    today = now.astimezone(dt.UTC).date()
    plan = plans.plan_of(account)
    statement = billing.statement(account=account, period=period, today=today)
    days = billing.usage_by_day(account=account, period=period)
    included = _included_gauges(plan, statement)
    limits = _limit_gauges(plan, account, today)
    alerts = [a for g in [*included, *limits] if (a := _alert(g, plan)) is not None]
    following = period.next()
    return UsagePage(
        plan=plan,
        period=period,
        previous=period.previous(),
        next=following if following.start <= today else None,
        as_of=now,
        statement=statement,
        rows=_statement_rows(statement),
        projecting=0 < statement.days_elapsed < period.days,
        included=included,
        limits=limits,
        alerts=alerts,
        charts=_charts(days, today),
        workflows=billing.usage_by_workflow(account=account, period=period),
        top_instances=billing.top_instances_by_cpu(account=account, period=period),
        cpu_vs_wall=CpuVsWall(
            cpu_ms=sum((d.cpu_ms for d in days), Decimal(0)),
            wall_ms=sum((d.wall_ms for d in days), Decimal(0)),
        ),
    )


CSV_HEADER = ["day", "invocations", "attempts", "cpu_ms", "wall_ms", "stored_bytes"]


def usage_csv(*, account: Account, period: Period, today: dt.date) -> str:
    """One row per day of the period up to today: the figures the charts draw."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for day in billing.usage_by_day(account=account, period=period):
        if day.day > today:
            break
        writer.writerow(
            [
                day.day.isoformat(),
                day.invocations,
                day.attempts,
                format(day.cpu_ms, "f"),
                format(day.wall_ms, "f"),
                day.stored_bytes,
            ]
        )
    return out.getvalue()
