"""Reads behind the console pages: lists, counts, inbox, overview, audit, access.

Queries only: the text a page shows is composed in ``workflows_app.console``.
No N+1. Lists use keyset pagination on (created_at, id), so the millionth page
costs what the first one does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum

from workflows_app.engine import clock
from workflows_app.models import (
    RUNNABLE_STATUSES,
    TERMINAL_STATUSES,
    Account,
    AuditEntry,
    Instance,
    InstanceStatus,
    Membership,
    StepAttempt,
    StepRecord,
    StepStatus,
    StepType,
    Workflow,
)
from workflows_app.selectors.paging import Cursor

PAGE_SIZE = 50
# An instance due for longer than this without a worker taking it is "late".
LATE_AFTER = dt.timedelta(minutes=1)
# Counting stops here: "10,000+" is as useful as an exact figure, and each
# count stays an index scan of bounded length however large the table grows.
COUNT_CAP = 10_000


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstanceFilters:
    """What the instances list is narrowed to (``console.filters`` reads it from a URL)."""

    workflow: str = ""
    statuses: tuple[str, ...] = ()
    created_from: dt.date | None = None
    created_to: dt.date | None = None
    q: str = ""


# --- access: the lookups behind console.access ------------------------------------------


def accounts_by_name() -> list[Account]:
    """Every account (what a superuser may switch between), by name."""
    return list(Account.objects.order_by("name"))


def membership_list(*, user_id: int) -> list[Membership]:
    """The user's memberships with their accounts, by account name."""
    return list(
        Membership.objects.filter(user_id=user_id)
        .select_related("account")
        .order_by("account__name")
    )


def membership_get(*, user_id: int, account_id: str) -> Membership | None:
    return (
        Membership.objects.filter(user_id=user_id, account_id=account_id)
        .select_related("account")
        .first()
    )


def instance_find(*, account: Account, workflow_name: str, instance_id: str) -> Instance | None:
    """The account's instance by workflow name and id; None when there is none."""
    return (
        Instance.objects.filter(
            account=account, workflow__name=workflow_name, instance_id=instance_id
        )
        .select_related("workflow")
        .first()
    )


# --- the instances list ---------------------------------------------------------------


def workflow_names(*, account: Account) -> list[str]:
    """The account's enabled workflows, for the list's workflow filter."""
    return sorted(Workflow.objects.filter(account=account).values_list("name", flat=True))


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


@dataclasses.dataclass(frozen=True, kw_only=True)
class FilteredInstancePage:
    rows: list[Instance]
    next_cursor: str | None


def instance_page(
    *, account: Account, filters: InstanceFilters, cursor: str = "", size: int = PAGE_SIZE
) -> FilteredInstancePage:
    """Newest first; ``cursor`` continues after the last row of the previous page.

    A cursor this codec did not make (edited by hand, or from an older link) is
    ignored: the first page, never an error page.
    """
    queryset = _filtered(account, filters, with_status=True).select_related("workflow")
    position = Cursor.decode(cursor) if cursor else None
    if position is not None:
        queryset = queryset.filter(position.rows_after(descending=True))
    rows = list(queryset.order_by("-created_at", "-pk")[: size + 1])
    next_cursor = Cursor.of(rows[size - 1]).encode() if len(rows) > size else None
    return FilteredInstancePage(rows=rows[:size], next_cursor=next_cursor)


def open_steps_of(*, instances: list[Instance]) -> dict[int, StepRecord]:
    """The first open step of each live instance, by instance pk; one query for them all."""
    live = [i.pk for i in instances if i.status not in TERMINAL_STATUSES]
    if not live:
        return {}
    open_steps = StepRecord.objects.filter(
        instance_id__in=live,
        status__in=[StepStatus.RUNNING, StepStatus.RETRYING, StepStatus.WAITING],
    ).order_by("instance_id", "seq")
    found: dict[int, StepRecord] = {}
    for step in open_steps:
        found.setdefault(step.instance_id, step)
    return found


def capped_count(queryset: QuerySet) -> int:
    """Exact up to COUNT_CAP; COUNT_CAP + 1 means "more"."""
    return queryset.order_by()[: COUNT_CAP + 1].count()


def status_counts(*, account: Account, filters: InstanceFilters) -> dict[str, int]:
    """Counts per status under every filter but the status one (for the clickable chips)."""
    base = _filtered(account, filters, with_status=False)
    return {status: capped_count(base.filter(status=status)) for status in InstanceStatus.values}


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


# --- one instance: its journal and its CPU ------------------------------------------------


def step_count(*, instance: Instance) -> int:
    return StepRecord.objects.filter(instance=instance).count()


def step_records(*, instance: Instance, offset: int, limit: int) -> list[StepRecord]:
    """Steps in the order they were reached, with their attempts (two queries)."""
    return list(
        StepRecord.objects.filter(instance=instance)
        .order_by("seq")
        .prefetch_related("attempts")[offset : offset + limit]
    )


def instance_attempts_cpu_ms(*, instance: Instance) -> Decimal:
    """CPU of every attempt of every step of the instance (one aggregate query)."""
    total = StepAttempt.objects.filter(step__instance=instance).aggregate(n=Sum("cpu_ms"))["n"]
    return Decimal(str(total or 0))  # a float column: through its repr, not binary


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


def audit_page(
    *, account: Account, before: int | None = None, size: int = PAGE_SIZE
) -> list[AuditEntry]:
    queryset = AuditEntry.objects.filter(account=account)
    if before:
        queryset = queryset.filter(pk__lt=before)
    return list(queryset.order_by("-pk")[:size])
