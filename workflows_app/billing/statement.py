"""The billing statement: usage against the plan's included amounts, overage and cost.

Money is Decimal (never floats), exact per line and rounded to the cent only in
the total. Storage accrues as GB-month: the bytes stored at the end of each day,
averaged over the days of the period.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from workflows_app.billing.plans import plan_of
from workflows_app.billing.usage import Period, usage_by_day
from workflows_app.models import Account, Plan

GB = Decimal(10**9)  # billing gigabytes are decimal
MILLION = Decimal(10**6)
CENT = Decimal("0.01")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeterLine:
    meter: str  # "cpu", "invocations", "storage"
    unit: str  # what usage is counted in
    usage: Decimal
    included: Decimal
    overage: Decimal
    unit_price: Decimal  # per million ms / per million invocations / per GB-month
    cost: Decimal  # exact; only the total is rounded


def _line(
    meter: str, unit: str, usage: Decimal, included: Decimal, price: Decimal, per: Decimal
) -> MeterLine:
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


def _lines(
    plan: Plan, *, cpu_ms: Decimal, invocations: Decimal, gb_month: Decimal
) -> list[MeterLine]:
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
    plan = plan_of(account)
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
