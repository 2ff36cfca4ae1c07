"""Quotas: the plan's daily invocations and storage limits, checked where instances are created.

This is the one daily-invocations limit (``Plan.daily_invocations_limit``,
counted in ``UsageDaily``). The counters are written by the engine's journal in
the same transaction as what they count; this module only reads them.
"""

from __future__ import annotations

import datetime as dt
import math

from django.db.models import Sum

from workflows_app.billing.plans import plan_of
from workflows_app.engine import clock
from workflows_app.engine.errors import QuotaExceededError
from workflows_app.models import Account, Event, Instance, StepRecord, UsageDaily


def instance_stored_bytes(instance: Instance) -> int:
    """Everything the instance keeps: its row, its journal and its events."""
    steps = StepRecord.objects.filter(instance=instance).aggregate(n=Sum("stored_bytes"))["n"]
    events = Event.objects.filter(instance=instance).aggregate(n=Sum("stored_bytes"))["n"]
    return int(instance.stored_bytes + (steps or 0) + (events or 0))


def account_stored_bytes(account: Account) -> int:
    """Bytes the account stores now: the sum of every delta ever metered."""
    total = UsageDaily.objects.filter(account=account).aggregate(n=Sum("stored_bytes_delta"))
    return int(total["n"] or 0)


def invocations_on(account: Account, day: dt.date) -> int:
    """Instances the account created on ``day`` (UTC), batch items counted one each."""
    total = UsageDaily.objects.filter(account=account, day=day).aggregate(n=Sum("invocations"))
    return int(total["n"] or 0)


def _seconds_to_midnight(now: dt.datetime) -> int:
    # Rounded up: a client that waits exactly this long must land on the next day.
    tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


def check_quotas(account: Account, *, new_invocations: int) -> None:
    """Refuse new instances over the plan's daily invocations or storage (paid plans bill)."""
    plan = plan_of(account)
    now = clock.now()
    limit = plan.daily_invocations_limit
    if limit is not None:
        used = invocations_on(account, now.date())
        if used + new_invocations > limit:
            raise QuotaExceededError(
                f"Daily invocation limit reached: {used} of {limit} instances created today "
                f"(plan {plan.name}); the count resets at 00:00 UTC",
                retry_after=_seconds_to_midnight(now),
            )
    storage_limit = plan.storage_bytes_limit
    if storage_limit is not None:
        stored = account_stored_bytes(account)
        if stored >= storage_limit:
            raise QuotaExceededError(
                f"Storage limit reached: {stored} of {storage_limit} bytes stored "
                f"(plan {plan.name}); delete instances or wait for retention to purge them",
                retry_after=3600,
            )
