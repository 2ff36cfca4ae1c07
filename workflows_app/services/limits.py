"""API rate windows: Cloudflare's per-second creation limits on the REST API (HTTP 429).

Counters live in the database (fixed windows, one row per account, scope and
window), so every web process shares them. The limits are read from settings
at call time:

* ``WORKFLOWS_API_CREATE_RATE_PER_ACCOUNT`` creations per second per account (300)
* ``WORKFLOWS_API_CREATE_RATE_PER_WORKFLOW`` creations per second per workflow (100)

A batch create counts as one call toward the rates, as Cloudflare's createBatch
does. Instances per day are the plan's quota (``billing.quotas``), not a rate.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from django.conf import settings
from django.db import transaction
from django.db.models import F

from workflows_app.engine import clock
from workflows_app.models import Account, RateCounter, Workflow

# Windows older than this are deleted when a new window row is created.
_KEEP = dt.timedelta(days=2)


@dataclasses.dataclass(frozen=True, kw_only=True)
class LimitExceeded:
    message: str
    retry_after: int  # seconds, for the Retry-After header


def _window(now: dt.datetime, seconds: int) -> tuple[dt.datetime, dt.datetime]:
    epoch = math.floor(now.timestamp() / seconds) * seconds
    start = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return start, start + dt.timedelta(seconds=seconds)


def _take(*, account: Account, scope: str, limit: int, seconds: int) -> int | None:
    """Count one call in the current window; the seconds to wait if it would pass ``limit``."""
    now = clock.now()
    start, end = _window(now, seconds)
    with transaction.atomic():
        counter, created = RateCounter.objects.select_for_update().get_or_create(
            account=account, scope=scope, window_start=start
        )
        if created:
            RateCounter.objects.filter(
                account=account, scope=scope, window_start__lt=now - _KEEP
            ).delete()
        if counter.count >= limit:
            return max(1, math.ceil((end - now).total_seconds()))
        RateCounter.objects.filter(pk=counter.pk).update(count=F("count") + 1)
    return None


def instance_creation_take(*, account: Account, workflow: Workflow) -> LimitExceeded | None:
    """Count one creation call (one instance or a batch); what was exceeded, if anything."""
    per_account = settings.WORKFLOWS_API_CREATE_RATE_PER_ACCOUNT
    per_workflow = settings.WORKFLOWS_API_CREATE_RATE_PER_WORKFLOW
    wait = _take(account=account, scope="create", limit=per_account, seconds=1)
    if wait is not None:
        return LimitExceeded(
            message=f"Instance creation rate limit exceeded: {per_account} per second per account",
            retry_after=wait,
        )
    wait = _take(
        account=account,
        scope=f"create:{workflow.name}",
        limit=per_workflow,
        seconds=1,
    )
    if wait is not None:
        return LimitExceeded(
            message=f"Instance creation rate limit exceeded: {per_workflow} per second "
            f"for workflow {workflow.name!r}",
            retry_after=wait,
        )
    return None
