"""Usage meters, plan quotas and the totals they are checked against.

The counters themselves are written by ``engine.store.meter`` inside the same
transaction as what they count; this module reads them and enforces the
plan's limits where work is created.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Sum

from workflows_app.billing.plans import plan_of
from workflows_app.engine import clock
from workflows_app.engine.durations import to_ms
from workflows_app.engine.errors import InvalidInputError, InvalidStepError, QuotaExceededError
from workflows_app.engine.store import MeterKey
from workflows_app.models import Account, Event, Instance, Plan, StepRecord, UsageDaily


def meter_key(instance: Instance) -> MeterKey:
    return MeterKey(instance.account_id, instance.workflow_id, instance.pk % UsageDaily.SHARDS)


def instance_stored_bytes(instance: Instance) -> int:
    """Everything the instance keeps: its row, its journal and its events."""
    steps = StepRecord.objects.filter(instance=instance).aggregate(n=Sum("stored_bytes"))["n"]
    events = Event.objects.filter(instance=instance).aggregate(n=Sum("stored_bytes"))["n"]
    return instance.stored_bytes + (steps or 0) + (events or 0)


def account_stored_bytes(account: Account) -> int:
    """Bytes the account stores now: the sum of every delta ever metered."""
    total = UsageDaily.objects.filter(account=account).aggregate(n=Sum("stored_bytes_delta"))
    return total["n"] or 0


def invocations_on(account: Account, day: dt.date) -> int:
    total = UsageDaily.objects.filter(account=account, day=day).aggregate(n=Sum("invocations"))
    return total["n"] or 0


def _seconds_to_midnight(now: dt.datetime) -> int:
    tomorrow = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return max(1, int((tomorrow - now).total_seconds()))


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


def parse_retention(value: dict | None, *, plan: Plan) -> dict[str, int] | None:
    """``{"success_retention", "error_retention"}`` durations (ms, "N unit(s)") → seconds.

    Refused above the plan's maximum: retention is bought, not asked for.
    """
    if value is None:
        return None
    unknown = set(value) - {"success_retention", "error_retention"}
    if unknown:
        raise InvalidInputError(
            f"Retention takes success_retention and error_retention, not {sorted(unknown)}"
        )
    longest = plan.max_retention_days * 86400
    chosen: dict[str, int] = {}
    for key in ("success_retention", "error_retention"):
        if value.get(key) is None:
            continue
        try:
            seconds = to_ms(value[key], what=key) / 1000
        except InvalidStepError as exc:
            raise InvalidInputError(str(exc)) from None
        if seconds > longest:
            raise InvalidInputError(
                f"{key} of {seconds / 86400:g} days is over the {plan.name} plan's maximum "
                f"of {plan.max_retention_days} days"
            )
        chosen[key.removesuffix("_retention")] = int(seconds)
    return chosen or None
