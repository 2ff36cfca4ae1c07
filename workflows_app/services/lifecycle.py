"""Pause, resume, terminate and restart: one instance or many, under a row lock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import F, Q, Sum

from workflows_app.billing import metering, plans
from workflows_app.engine import clock, store
from workflows_app.engine.dispatch import dispatch_on_commit
from workflows_app.engine.errors import (
    InvalidInputError,
    InvalidTransitionError,
)
from workflows_app.engine.store import size_of
from workflows_app.models import (
    TERMINAL_STATUSES,
    Event,
    Instance,
    InstanceStatus,
    StepRecord,
    StepStatus,
    StepType,
)
from workflows_app.services.common import (
    audit,
    has_live_lease,
    lock_instance,
)


def instance_pause(*, instance: Instance, actor: str | None = None, reason: str = "") -> Instance:
    """Pause at the next step boundary; a sleeping or waiting instance pauses at once."""
    with transaction.atomic():
        locked = lock_instance(instance)
        if locked.status in TERMINAL_STATUSES:
            raise InvalidTransitionError(f"Cannot pause an instance that is {locked.status}")
        if locked.status in (InstanceStatus.PAUSED, InstanceStatus.WAITING_FOR_PAUSE):
            return locked
        now = clock.now()
        if locked.status == InstanceStatus.RUNNING and has_live_lease(locked):
            locked.status = InstanceStatus.WAITING_FOR_PAUSE
        else:
            locked.status = InstanceStatus.PAUSED
            locked.paused_at = now
            locked.wake_at = None
            locked.lease_token = None
            locked.lease_expires_at = None
        locked.modified_at = now
        locked.save(
            update_fields=[
                "status",
                "paused_at",
                "wake_at",
                "lease_token",
                "lease_expires_at",
                "modified_at",
            ]
        )
        audit(instance=locked, actor=actor, action="pause", reason=reason)
    return locked


def instance_resume(*, instance: Instance, actor: str | None = None, reason: str = "") -> Instance:
    """Cancel a pending pause, or resume a paused instance with its timers shifted."""
    with transaction.atomic():
        locked = lock_instance(instance)
        if locked.status in TERMINAL_STATUSES:
            raise InvalidTransitionError(f"Cannot resume an instance that is {locked.status}")
        now = clock.now()
        if locked.status == InstanceStatus.WAITING_FOR_PAUSE:
            locked.status = InstanceStatus.RUNNING
            locked.modified_at = now
            locked.save(update_fields=["status", "modified_at"])
        elif locked.status == InstanceStatus.PAUSED:
            # The clocks of sleeps, event timeouts and retry delays stopped while paused.
            paused_for = now - (locked.paused_at or now)
            StepRecord.objects.filter(
                instance=locked,
                status__in=[StepStatus.WAITING, StepStatus.RETRYING],
                wake_at__isnull=False,
            ).update(wake_at=F("wake_at") + paused_for)
            locked.status = InstanceStatus.RUNNING
            locked.paused_at = None
            locked.wake_at = now
            locked.delivery_count = 0
            locked.modified_at = now
            locked.save(
                update_fields=["status", "paused_at", "wake_at", "delivery_count", "modified_at"]
            )
            dispatch_on_commit([locked.pk])
        else:
            return locked  # already running or waiting: nothing to resume
        audit(instance=locked, actor=actor, action="resume", reason=reason)
    return locked


def instance_terminate(
    *, instance: Instance, actor: str | None = None, reason: str = ""
) -> Instance:
    """Stop for good; a step running right now finishes but nothing after it runs."""
    with transaction.atomic():
        locked = lock_instance(instance)
        if locked.status in TERMINAL_STATUSES:
            raise InvalidTransitionError(
                f"Cannot terminate instance since it is in a finite state ({locked.status})"
            )
        now = clock.now()
        locked.status = InstanceStatus.TERMINATED
        locked.ended_at = now
        locked.purge_after = now + dt.timedelta(
            seconds=store.retention_seconds(
                instance=locked.retention,
                workflow=locked.workflow.default_retention,
                plan=plans.plan_of(locked.account),
            )["error"]
        )
        locked.modified_at = now
        locked.wake_at = None
        locked.paused_at = None
        # Dropping the token fences off an activation still running: its writes now fail.
        locked.lease_token = None
        locked.lease_expires_at = None
        locked.save(
            update_fields=[
                "status",
                "ended_at",
                "purge_after",
                "modified_at",
                "wake_at",
                "paused_at",
                "lease_token",
                "lease_expires_at",
            ]
        )
        audit(instance=locked, actor=actor, action="terminate", reason=reason)
    return locked


def _restart_point(instance: Instance, from_step: dict[str, Any]) -> StepRecord:
    unknown = set(from_step) - {"name", "count", "type"}
    if unknown or not isinstance(from_step.get("name"), str):
        raise InvalidInputError('Restart "from" takes {"name", "count"?, "type"?}')
    step_type = {"do": StepType.DO, "step": StepType.DO}.get(
        from_step.get("type") or "do", from_step.get("type")
    )
    count = from_step.get("count") or 1
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInputError("Restart from: count must be a positive integer")
    record = StepRecord.objects.filter(
        instance=instance, type=step_type, name=from_step["name"], count=count
    ).first()
    if record is None:
        raise InvalidTransitionError(f'Step "{from_step["name"]}" not found in execution history')
    return record


def instance_restart(
    *,
    instance: Instance,
    from_step: dict[str, Any] | None = None,
    actor: str | None = None,
    reason: str = "",
) -> Instance:
    """Run again from the top with the same params, from any state.

    Without ``from_step`` every step is forgotten. With it, that step and every
    step reached after it are wiped; earlier ones stay cached and do not re-run.
    Buffered events are cleared either way.
    """
    with transaction.atomic():
        locked = lock_instance(instance)
        steps = StepRecord.objects.filter(instance=locked)
        if from_step is not None:
            point = _restart_point(locked, from_step)
            steps = steps.filter(seq__gte=point.seq)
        wiped = list(steps.values_list("pk", flat=True))
        events = Event.objects.filter(instance=locked).filter(
            Q(consumed_by__isnull=True) | Q(consumed_by__in=wiped)
        )
        params_bytes = 0 if locked.params is None else size_of(locked.params)
        freed = (
            (steps.aggregate(n=Sum("stored_bytes"))["n"] or 0)
            + (events.aggregate(n=Sum("stored_bytes"))["n"] or 0)
            + (locked.stored_bytes - params_bytes)  # the output or error
        )
        events.delete()
        steps.delete()
        store.meter(metering.meter_key(locked), stored_bytes=-freed)
        locked.stored_bytes = params_bytes
        now = clock.now()
        locked.status = InstanceStatus.QUEUED
        locked.output = None
        locked.error = None
        locked.started_at = None
        locked.ended_at = None
        locked.purge_after = None
        locked.paused_at = None
        locked.wake_at = now
        locked.lease_token = None
        locked.lease_expires_at = None
        locked.delivery_count = 0
        locked.step_count = StepRecord.objects.filter(instance=locked, type=StepType.DO).count()
        locked.modified_at = now
        locked.save()
        audit(instance=locked, actor=actor, action="restart", reason=reason, from_step=from_step)
        dispatch_on_commit([locked.pk])
    return locked


BULK_LIMIT = 1000


def instances_bulk_action(
    *, instances: Sequence[Instance], action: str, actor: str, reason: str
) -> tuple[int, list[str]]:
    """Apply one lifecycle action to many instances; each succeeds or fails on its own.

    Returns how many succeeded and a message per failure.
    """
    actions = {
        "pause": instance_pause,
        "resume": instance_resume,
        "terminate": instance_terminate,
        "restart": instance_restart,
    }
    if action not in actions:
        raise InvalidInputError(f"Bulk action must be one of {', '.join(actions)}")
    if len(instances) > BULK_LIMIT:
        raise InvalidInputError(f"A bulk action covers at most {BULK_LIMIT} instances")
    done, failures = 0, []
    for instance in instances:
        try:
            actions[action](instance=instance, actor=actor, reason=reason)
        except InvalidTransitionError as exc:
            failures.append(f"{instance.instance_id}: {exc}")
        else:
            done += 1
    return done, failures
