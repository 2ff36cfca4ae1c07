"""Reads of instances and their steps: one, a page, the latest, one step."""

from __future__ import annotations

import dataclasses
import datetime as dt

from workflows_app.engine.errors import (
    InstanceNotFoundError,
    InvalidInputError,
    StepNotFoundError,
)
from workflows_app.models import (
    API_INSTANCE_STATUSES,
    Instance,
    InstanceStatus,
    StepRecord,
    Workflow,
)
from workflows_app.selectors.paging import Cursor


def instance_get(*, workflow: Workflow, instance_id: str) -> Instance:
    try:
        return Instance.objects.select_related("workflow").get(
            workflow=workflow, instance_id=instance_id
        )
    except Instance.DoesNotExist:
        raise InstanceNotFoundError(f"Workflow instance {instance_id!r} not found") from None


def instance_step_records(*, instance: Instance) -> list[StepRecord]:
    """The journal in the order steps were reached, every attempt prefetched (2 queries)."""
    return list(
        StepRecord.objects.filter(instance=instance).order_by("seq").prefetch_related("attempts")
    )


def instance_reload(*, instance: Instance) -> Instance:
    """The same row as stored now (a handle held by the binding may be stale)."""
    instance.refresh_from_db()
    return instance


def parse_time_bound(value: str, *, what: str, end: bool) -> dt.datetime:
    """An ISO 8601 instant (naive = UTC); a bare date covers that whole UTC day."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time.max if end else dt.time.min)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        # Normalised now: an offset that pushes the instant out of years 1-9999
        # fails here, as bad input, not later inside the database adapter.
        return moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise InvalidInputError(
            f"{what} {value[:40]!r} is not an ISO 8601 date or date-time "
            "(e.g. 2026-01-31 or 2026-01-31T12:00:00Z)"
        ) from None


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstancePage:
    instances: list[Instance]
    page: int | None
    per_page: int
    total_count: int | None
    next_cursor: str | None


def instance_list(
    *,
    workflow: Workflow,
    status: str | None = None,
    date_start: dt.datetime | None = None,
    date_end: dt.datetime | None = None,
    page: int = 1,
    per_page: int = 50,
    cursor: str | None = None,
    direction: str = "desc",
) -> InstancePage:
    """Instances newest first (``direction="asc"``: oldest first), by page or by cursor.

    With a cursor the page continues after the cursor's instance and no total
    is counted; without one, ``page`` is 1-based and the total is counted.
    """
    # "rollingBack" is a Cloudflare status this engine never enters: it matches nothing.
    if status is not None and status not in API_INSTANCE_STATUSES:
        raise InvalidInputError(f"Unknown status {status!r}: use one of {InstanceStatus.values}")
    if direction not in ("asc", "desc"):
        raise InvalidInputError('direction must be "asc" or "desc"')
    if page < 1 or not 1 <= per_page <= 100:
        raise InvalidInputError("page must be >= 1 and per_page between 1 and 100")
    instances = Instance.objects.filter(workflow=workflow)
    if status is not None:
        instances = instances.filter(status=status)
    if date_start is not None:
        instances = instances.filter(created_at__gte=date_start)
    if date_end is not None:
        instances = instances.filter(created_at__lte=date_end)
    order = ("created_at", "pk") if direction == "asc" else ("-created_at", "-pk")
    total_count: int | None = None
    if cursor is not None:
        position = Cursor.decode(cursor)
        if position is None:
            raise InvalidInputError(f"Invalid cursor {cursor[:40]!r}")
        after = position.rows_after(descending=direction == "desc")
        rows = list(instances.filter(after).order_by(*order)[: per_page + 1])
        page_number: int | None = None
    else:
        total_count = instances.count()
        offset = (page - 1) * per_page
        rows = list(instances.order_by(*order)[offset : offset + per_page + 1])
        page_number = page
    more = len(rows) > per_page
    rows = rows[:per_page]
    return InstancePage(
        instances=rows,
        page=page_number,
        per_page=per_page,
        total_count=total_count,
        next_cursor=Cursor.of(rows[-1]).encode() if more and rows else None,
    )


def instance_latest(*, workflow: Workflow) -> Instance:
    """The most recently created instance (wrangler's ``latest``)."""
    instance = (
        Instance.objects.select_related("workflow")
        .filter(workflow=workflow)
        .order_by("-created_at", "-pk")
        .first()
    )
    if instance is None:
        raise InstanceNotFoundError(f"Workflow {workflow.name!r} has no instances")
    return instance


def step_record_get(*, instance: Instance, step_type: str, name: str, count: int) -> StepRecord:
    record = (
        StepRecord.objects.filter(instance=instance, type=step_type, name=name, count=count)
        .prefetch_related("attempts")
        .first()
    )
    if record is None:
        raise StepNotFoundError(
            f'Step "{name}-{count}" not found in instance {instance.instance_id!r}'
        )
    return record
