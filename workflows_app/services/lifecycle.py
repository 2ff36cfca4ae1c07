"""Pause, resume, terminate and restart: one instance or many, under a row lock.

``instance_set_status`` is the one entry point every interface goes through;
``RestartPoint`` is the one reading of where a restart begins.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, get_args

from django.db import transaction
from django.db.models import F, Q, Sum

from workflows_app.billing import plans
from workflows_app.engine import clock
from workflows_app.engine.dispatch import dispatch_on_commit
from workflows_app.engine.errors import (
    InvalidInputError,
    InvalidTransitionError,
)
from workflows_app.engine.journal.meters import MeterKey, meter, size_of
from workflows_app.engine.journal.retention import retention_seconds
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
            # The clocks of sleeps, event timeouts and retry delays stopped while paused;
            # a deadline that had already passed before the pause stays passed.
            paused_for = now - (locked.paused_at or now)
            StepRecord.objects.filter(
                instance=locked,
                status__in=[StepStatus.WAITING, StepStatus.RETRYING],
                wake_at__gt=locked.paused_at or now,
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
            seconds=retention_seconds(
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


# Cloudflare calls a step.do a "step"; both spellings name the same journal type.
_STEP_TYPE_ALIASES = {"step": StepType.DO}
_RESTART_KEYS = frozenset({"name", "count", "type"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class RestartPoint:
    """Where a restart begins: this step and every step reached after it are wiped.

    The one parser of a restart point, whichever interface it comes from:
    ``from_mapping`` reads the JSON form (REST API, binding, CLI flags) and
    ``parse`` the console's ``name#count`` text.
    """

    name: str
    count: int = 1
    type: str = StepType.DO

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise InvalidInputError("Restart from: count must be a positive integer")

    @classmethod
    def from_mapping(cls, value: Mapping[str, Any]) -> RestartPoint:
        """``{"name", "count"?, "type"?}``; an absent (or None) count is 1, type is a step.do."""
        name = value.get("name") if isinstance(value, Mapping) else None
        if not isinstance(name, str) or set(value) - _RESTART_KEYS:
            raise InvalidInputError('Restart "from" takes {"name", "count"?, "type"?}')
        step_type = value.get("type") or StepType.DO
        return cls(
            name=name,
            count=value.get("count") or 1,
            type=_STEP_TYPE_ALIASES.get(step_type, step_type),
        )

    @classmethod
    def parse(cls, text: str) -> RestartPoint:
        """The console's ``name#count`` (``#count`` may be left out: the first such step)."""
        name, hash_sign, count = text.rpartition("#")
        if not hash_sign:
            name, count = text, "1"
        if not name or not count.isdecimal() or int(count) < 1:
            raise InvalidInputError(
                f"Restart point {text[:80]!r} must be a step name and its count, "
                "e.g. 'charge-card#1'"
            )
        return cls(name=name, count=int(count))

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "count": self.count, "type": self.type}


def _restart_step(instance: Instance, point: RestartPoint) -> StepRecord:
    record = StepRecord.objects.filter(
        instance=instance, type=point.type, name=point.name, count=point.count
    ).first()
    if record is None:
        raise InvalidTransitionError(f'Step "{point.name}" not found in execution history')
    return record


def instance_restart(
    *,
    instance: Instance,
    from_step: RestartPoint | Mapping[str, Any] | None = None,
    actor: str | None = None,
    reason: str = "",
) -> Instance:
    """Run again from the top with the same params, from any state.

    Without ``from_step`` every step is forgotten. With it, that step and every
    step reached after it are wiped; earlier ones stay cached and do not re-run.
    Buffered events are cleared either way.
    """
    point = (
        from_step
        if from_step is None or isinstance(from_step, RestartPoint)
        else RestartPoint.from_mapping(from_step)
    )
    with transaction.atomic():
        locked = lock_instance(instance)
        steps = StepRecord.objects.filter(instance=locked)
        if point is not None:
            steps = steps.filter(seq__gte=_restart_step(locked, point).seq)
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
        meter(MeterKey.for_instance(locked), stored_bytes=-freed)
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
        locked.save(
            update_fields=[
                "stored_bytes",
                "status",
                "output",
                "error",
                "started_at",
                "ended_at",
                "purge_after",
                "paused_at",
                "wake_at",
                "lease_token",
                "lease_expires_at",
                "delivery_count",
                "step_count",
                "modified_at",
            ]
        )
        audit(
            instance=locked,
            actor=actor,
            action="restart",
            reason=reason,
            from_step=None if point is None else point.as_dict(),
        )
        dispatch_on_commit([locked.pk])
    return locked


LifecycleAction = Literal["pause", "resume", "terminate", "restart"]
LIFECYCLE_ACTIONS: tuple[LifecycleAction, ...] = get_args(LifecycleAction)

_WITHOUT_RESTART_POINT: dict[str, Callable[..., Instance]] = {
    "pause": instance_pause,
    "resume": instance_resume,
    "terminate": instance_terminate,
}


def instance_set_status(
    *,
    instance: Instance,
    action: str,
    from_step: RestartPoint | Mapping[str, Any] | None = None,
    actor: str | None = None,
    reason: str = "",
) -> Instance:
    """Pause, resume, terminate or restart: the one lifecycle entry point of every interface.

    ``from_step`` only goes with ``restart``; any other action refuses it.
    """
    if action == "restart":
        return instance_restart(instance=instance, from_step=from_step, actor=actor, reason=reason)
    if action not in _WITHOUT_RESTART_POINT:
        raise InvalidInputError(
            f"Unknown lifecycle action {action[:40]!r}: use one of {', '.join(LIFECYCLE_ACTIONS)}"
        )
    if from_step is not None:
        raise InvalidInputError(
            f'A restart point (from_step) only goes with action "restart", not {action!r}'
        )
    return _WITHOUT_RESTART_POINT[action](instance=instance, actor=actor, reason=reason)


BULK_LIMIT = 1000


def instances_bulk_action(
    *, instances: Sequence[Instance], action: str, actor: str, reason: str
) -> tuple[int, list[str]]:
    """Apply one lifecycle action to many instances; each succeeds or fails on its own.

    Returns how many succeeded and a message per failure.
    """
    if action not in LIFECYCLE_ACTIONS:
        raise InvalidInputError(f"Bulk action must be one of {', '.join(LIFECYCLE_ACTIONS)}")
    if len(instances) > BULK_LIMIT:
        raise InvalidInputError(f"A bulk action covers at most {BULK_LIMIT} instances")
    done, failures = 0, []
    for instance in instances:
        try:
            instance_set_status(instance=instance, action=action, actor=actor, reason=reason)
        except InvalidTransitionError as exc:
            failures.append(f"{instance.instance_id}: {exc}")
        else:
            done += 1
    return done, failures
