"""The seed's Free and Paid plans: defaults for rows a superuser may then edit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

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


def plan_named(name: str) -> Any:
    """The plan row, created from the seed's defaults if it is missing."""
    from workflows_app.models import Plan

    plan, _ = Plan.objects.get_or_create(name=name, defaults=DEFAULT_PLANS[name])
    return plan
