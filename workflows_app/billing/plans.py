"""Plans: the seed's Free and Paid defaults, and the one resolution of an account's plan.

``plan_of`` is the only way the engine, the services and the billing pages learn
which plan an account is on; the free plan's row is read at most once a minute
per process because every activation needs it.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from workflows_app.models import Account, Plan

FREE_PLAN = "free"

DEFAULT_PLANS: dict[str, dict[str, Any]] = {
    "free": {
        "cpu_ms_per_step_limit": 10,
        "daily_invocations_limit": 100_000,
        "storage_bytes_limit": 1_000_000_000,
        "included_cpu_ms": 0,
        "included_invocations": 0,
        "included_storage_gb": Decimal("1"),
        "price_per_million_cpu_ms": Decimal("0"),
        "price_per_million_invocations": Decimal("0"),
        "price_per_gb_month": Decimal("0"),
        "retention_days": 3,
        "max_retention_days": 3,
    },
    "paid": {
        "cpu_ms_per_step_limit": 30_000,
        "daily_invocations_limit": None,
        "storage_bytes_limit": None,
        "included_cpu_ms": 30_000_000,
        "included_invocations": 10_000_000,
        "included_storage_gb": Decimal("1"),
        "price_per_million_cpu_ms": Decimal("0.02"),
        "price_per_million_invocations": Decimal("0.30"),
        "price_per_gb_month": Decimal("0.20"),
        "retention_days": 30,
        "max_retention_days": 30,
    },
}


def plan_named(name: str) -> Plan:
    """The plan row, created from the seed's defaults if it is missing."""
    plan, _ = Plan.objects.get_or_create(name=name, defaults=DEFAULT_PLANS[name])
    return plan


_FREE_PLAN_TTL_SECONDS = 60.0
_free_plan_cache: tuple[float, Plan | None] = (-_FREE_PLAN_TTL_SECONDS, None)


def _free_plan() -> Plan:
    """The plan of accounts without one, read at most once a minute per process."""
    global _free_plan_cache
    read_at, plan = _free_plan_cache
    if plan is None or time.monotonic() - read_at > _FREE_PLAN_TTL_SECONDS:
        plan = plan_named(FREE_PLAN)
        _free_plan_cache = (time.monotonic(), plan)
    return plan


def plan_of(account: Account) -> Plan:
    """The account's plan; an account without one is on the free plan.

    Pass an account loaded with ``select_related("plan")`` to spend no query.
    """
    if account.plan_id is not None:
        return account.plan  # type: ignore[return-value]
    return _free_plan()
