"""Reads behind the console pages: lists, counts, inbox, overview. No N+1.

Lists use keyset pagination on (created_at, id), so the millionth page costs
what the first one does.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.http import QueryDict

from workflows_app.engine import clock
from workflows_app.models import (
    RUNNABLE_STATUSES,
    TERMINAL_STATUSES,
    Account,
    AuditEntry,
    Instance,
    InstanceStatus,
    StepAttempt,
    StepRecord,
    StepStatus,
    StepType,
    Workflow,
)

PAGE_SIZE = 50
# An instance due for longer than this without a worker taking it is "late".
LATE_AFTER = dt.timedelta(minutes=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstanceFilters:
    workflow: str = ""
    statuses: tuple[str, ...] = ()
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    q: str = ""

    def as_query(self, **override: Any) -> str:
        """The filters as a query string (for links that keep them)."""
        params = QueryDict(mutable=True)
        values = {**dataclasses.asdict(self), **override}
        if values["workflow"]:
            params["workflow"] = values["workflow"]
        params.setlist("status", list(values["statuses"]))
        for name in ("created_from", "created_to"):
            if values[name]:
                params[name] = values[name].isoformat()
        if values["q"]:
            params["q"] = values["q"]
        return params.urlencode()


def workflow_names(*, account: Account) -> list[str]:
    """The account's enabled workflows, for the list's workflow filter."""
    return sorted(Workflow.objects.filter(account=account).values_list("name", flat=True))


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def instance_filters_parse(params: QueryDict) -> InstanceFilters:
    """Lenient: an unknown status or a malformed date is ignored, never an error page."""
    valid = set(InstanceStatus.values)
    return InstanceFilters(
        workflow=params.get("workflow", "")[:64],
        statuses=tuple(s for s in params.getlist("status") if s in valid),
        created_from=_date(params.get("created_from")),
        created_to=_date(params.get("created_to")),
        q=params.get("q", "").strip()[:100],
    )


def _filtered(account: Account, filters: InstanceFilters, *, with_status: bool) -> QuerySet:
    queryset = Instance.objects.filter(account=account)
    if filters.workflow:
        queryset = queryset.filter(workflow__name=filters.workflow)
    if with_status and filters.statuses:
        queryset = queryset.filter(status__in=filters.statuses)
    if filters.created_from:
        queryset = queryset.filter(created_at__date__gte=filters.created_from)
    if filters.created_to:
        queryset = queryset.filter(created_at__date__lte=filters.created_to)
    if filters.q:
        queryset = queryset.filter(instance_id__startswith=filters.q)
    return queryset


def _encode_cursor(instance: Instance) -> str:
    raw = json.dumps([instance.created_at.isoformat(), instance.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, pk = json.loads(raw)
        return dt.datetime.fromisoformat(created), int(pk)
    except (ValueError, TypeError, OverflowError):
        return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstancePage:
    rows: list[Instance]
    activities: dict[int, str]
    next_cursor: str | None


def instance_page(
    *, account: Account, filters: InstanceFilters, cursor: str = "", size: int = PAGE_SIZE
) -> InstancePage:
    """Newest first; ``cursor`` continues after the last row of the previous page."""
    queryset = _filtered(account, filters, with_status=True).select_related("workflow")
    position = _decode_cursor(cursor) if cursor else None
    if position is not None:
        created, pk = position
        queryset = queryset.filter(Q(created_at__lt=created) | Q(created_at=created, pk__lt=pk))
    rows = list(queryset.order_by("-created_at", "-pk")[: size + 1])
    next_cursor = _encode_cursor(rows[size - 1]) if len(rows) > size else None
    rows = rows[:size]
    return InstancePage(rows=rows, activities=activities_of(rows), next_cursor=next_cursor)


# Counting stops here: "10,000+" is as useful as an exact figure, and each
# count stays an index scan of bounded length however large the table grows.
COUNT_CAP = 10_000


def capped_count(queryset: QuerySet) -> int:
    """Exact up to COUNT_CAP; COUNT_CAP + 1 means "more"."""
    return queryset.order_by()[: COUNT_CAP + 1].count()


def status_counts(*, account: Account, filters: InstanceFilters) -> dict[str, int]:
    """Counts per status under every filter but the status one (for the clickable chips)."""
    base = _filtered(account, filters, with_status=False)
    return {status: capped_count(base.filter(status=status)) for status in InstanceStatus.values}


def _humanize(delta: dt.timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def describe_step(step: StepRecord, now: dt.datetime) -> str:
    """What an instance is doing, in plain language, from its open step."""
    wake = step.wake_at
    if step.type == StepType.SLEEP:
        return f"sleeping until {wake:%Y-%m-%d %H:%M} UTC" if wake else f"sleeping in {step.name}"
    if step.type == StepType.WAIT_FOR_EVENT:
        event_type = (step.detail or {}).get("type", "?")
        until = f" until {wake:%Y-%m-%d %H:%M} UTC" if wake else ""
        return f"waiting for event “{event_type}”{until}"
    limit = ((step.config or {}).get("retries") or {}).get("limit", 0) + 1
    if step.status == StepStatus.RETRYING and wake:
        when = f"next attempt in {_humanize(wake - now)}" if wake > now else "next attempt due now"
        return f"retrying “{step.name}” {step.attempt_count}/{limit}, {when}"
    return f"running “{step.name}” (attempt {step.attempt_count}/{limit})"


def activities_of(instances: list[Instance]) -> dict[int, str]:
    """The open step of each live instance, described; one query for the whole page."""
    live = [i.pk for i in instances if i.status not in TERMINAL_STATUSES]
    if not live:
        return {}
    now = clock.now()
    open_steps = StepRecord.objects.filter(
        instance_id__in=live,
        status__in=[StepStatus.RUNNING, StepStatus.RETRYING, StepStatus.WAITING],
    ).order_by("instance_id", "seq")
    found: dict[int, str] = {}
    for step in open_steps:
        found.setdefault(step.instance_id, describe_step(step, now))
    return found


# --- the overview ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Overview:
    by_workflow: dict[str, dict[str, int]]
    recent_errors: list[Instance]
    pending_approvals: int
    late: list[Instance]


def overview(*, account: Account) -> Overview:
    by_workflow: dict[str, dict[str, int]] = {
        name: dict.fromkeys(InstanceStatus.values, 0)
        for name in Workflow.objects.filter(account=account).values_list("name", flat=True)
    }
    workflow_ids = dict(Workflow.objects.filter(account=account).values_list("name", "pk"))
    for name, counts in by_workflow.items():
        instances = Instance.objects.filter(account=account, workflow_id=workflow_ids[name])
        for status in counts:
            counts[status] = capped_count(instances.filter(status=status))
    now = clock.now()
    late = list(
        Instance.objects.filter(
            account=account, status__in=RUNNABLE_STATUSES, wake_at__lt=now - LATE_AFTER
        )
        .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
        .select_related("workflow")
        .order_by("wake_at")[:10]
    )
    return Overview(
        by_workflow=by_workflow,
        recent_errors=list(
            Instance.objects.filter(account=account, status=InstanceStatus.ERRORED)
            .select_related("workflow")
            .order_by("-created_at")[:10]
        ),
        pending_approvals=pending_approvals(account=account).count(),
        late=late,
    )


# --- approvals and audit ----------------------------------------------------------


def pending_approvals(*, account: Account) -> QuerySet[StepRecord]:
    """Every wait_for_event still open and not yet answered, oldest first."""
    return (
        StepRecord.objects.filter(
            instance__account=account,
            type=StepType.WAIT_FOR_EVENT,
            status=StepStatus.WAITING,
            decision__isnull=True,
        )
        .exclude(instance__status__in=TERMINAL_STATUSES)
        .select_related("instance__workflow")
        .order_by("started_at", "pk")
    )


def approval_get(*, account: Account, step_pk: int) -> StepRecord | None:
    return (
        StepRecord.objects.filter(
            pk=step_pk, instance__account=account, type=StepType.WAIT_FOR_EVENT
        )
        .select_related("instance__workflow", "decision")
        .first()
    )


def audit_page(*, account: Account, before: int | None = None, size: int = PAGE_SIZE) -> list:
    queryset = AuditEntry.objects.filter(account=account)
    if before:
        queryset = queryset.filter(pk__lt=before)
    return list(queryset.order_by("-pk")[:size])


def instances_matching(*, account: Account, filters: InstanceFilters, limit: int) -> list[Instance]:
    """Up to ``limit`` instances under the filters, newest first."""
    return list(
        _filtered(account, filters, with_status=True)
        .select_related("workflow")
        .order_by("-created_at")[:limit]
    )


def instances_by_pk(*, account: Account, pks: list[str]) -> list[Instance]:
    ids = [int(pk) for pk in pks if pk.isdecimal()]
    return list(Instance.objects.filter(account=account, pk__in=ids).select_related("workflow"))


STEPS_PER_PAGE = 100


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepPage:
    steps: list[dict[str, Any]]
    number: int  # 1-based
    pages: int
    total: int
    first_counter: int  # 1-based position of the first step shown

    @property
    def last_counter(self) -> int:
        return self.first_counter + len(self.steps) - 1


def step_page(*, instance: Instance, number: int | None = None) -> StepPage:
    """One page of the journal in the order steps were reached (default: the newest page)."""
    from workflows_app.selectors import step_view

    total = StepRecord.objects.filter(instance=instance).count()
    pages = max(1, -(-total // STEPS_PER_PAGE))
    number = pages if number is None else min(max(1, number), pages)
    offset = (number - 1) * STEPS_PER_PAGE
    records = (
        StepRecord.objects.filter(instance=instance)
        .order_by("seq")
        .prefetch_related("attempts")[offset : offset + STEPS_PER_PAGE]
    )
    steps = [step_view(r) for r in records]
    for step in steps:
        if "attempts" in step:  # a step.do: its CPU is the sum over its attempts
            step["cpu_ms"] = sum(a["cpu_ms"] or 0 for a in step["attempts"])
    return StepPage(
        steps=steps,
        number=number,
        pages=pages,
        total=total,
        first_counter=offset + 1,
    )


# --- CPU and its cost per instance ----------------------------------------------------

MILLION = Decimal(10**6)


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstanceCpu:
    steps_ms: Decimal  # every attempt of every step
    replay_ms: Decimal  # re-running run() up to the next step, on each wake-up
    price_per_million_ms: Decimal

    @property
    def total_ms(self) -> Decimal:
        return self.steps_ms + self.replay_ms

    @property
    def cost(self) -> Decimal:
        """Exact (not rounded to the cent): one instance often costs a fraction of one."""
        return self.total_ms * self.price_per_million_ms / MILLION


def instance_cpu(*, account: Account, instance: Instance) -> InstanceCpu:
    """The instance's CPU time and its price at the account's plan (one aggregate query)."""
    from workflows_app.billing.plans import plan_of

    steps = StepAttempt.objects.filter(step__instance=instance).aggregate(n=Sum("cpu_ms"))["n"]
    return InstanceCpu(
        steps_ms=Decimal(str(steps or 0)),  # a float column: through its repr, not binary
        replay_ms=Decimal(instance.replay_cpu_us) / 1000,
        price_per_million_ms=plan_of(account).price_per_million_cpu_ms,
    )
