"""The journal store: the only engine module that touches the ORM.

Every write made on behalf of an activation is *fenced*: it first updates the
instance row conditioned on the activation's lease token, in the same
transaction. A worker that stalled past its lease (GC pause, SIGSTOP, a
partition) finds its token replaced and its late write changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from workflows_app.billing.plans import plan_of
from workflows_app.models import (
    RUNNABLE_STATUSES,
    Event,
    Instance,
    InstanceStatus,
    Plan,
    StepAttempt,
    StepRecord,
    StepStatus,
    UsageDaily,
)

from . import clock
from .serialization import encoded_size

WORKER_LOST = {
    "name": "WorkerLostError",
    "module": "",
    "message": "the worker running this attempt stopped before the attempt finished",
    "traceback": "",
}


@dataclasses.dataclass(frozen=True)
class MeterKey:
    """Where an instance's usage is counted: its account, workflow and counter shard."""

    account_id: str
    workflow_id: int
    shard: int


_METER_SQL = """
INSERT INTO workflows_app_usagedaily
    (account_id, workflow_id, day, shard, invocations, attempts, cpu_us, wall_us,
     stored_bytes_delta)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (account_id, workflow_id, day, shard) DO UPDATE SET
    invocations = workflows_app_usagedaily.invocations + excluded.invocations,
    attempts = workflows_app_usagedaily.attempts + excluded.attempts,
    cpu_us = workflows_app_usagedaily.cpu_us + excluded.cpu_us,
    wall_us = workflows_app_usagedaily.wall_us + excluded.wall_us,
    stored_bytes_delta = workflows_app_usagedaily.stored_bytes_delta + excluded.stored_bytes_delta
"""


def meter(
    key: MeterKey,
    *,
    invocations: int = 0,
    attempts: int = 0,
    cpu_us: int = 0,
    wall_us: int = 0,
    stored_bytes: int = 0,
) -> None:
    """Add to today's usage counters, inside the caller's transaction.

    One statement (an upsert PostgreSQL and SQLite both speak): the counter
    commits or rolls back with the journal write it meters, so the meters
    always equal the sums over the journal.
    """
    if not (invocations or attempts or cpu_us or wall_us or stored_bytes):
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _METER_SQL,
            [
                key.account_id,
                key.workflow_id,
                clock.now().date(),
                key.shard,
                invocations,
                attempts,
                cpu_us,
                wall_us,
                stored_bytes,
            ],
        )


def size_of(value: Any) -> int:
    """Stored bytes of a JSON value (0 for None)."""
    return 0 if value is None else encoded_size(value)


def us(ms: float) -> int:
    """Milliseconds as whole microseconds: the meters' unit, summed exactly."""
    return round(ms * 1000)


class LeaseLostError(BaseException):
    """This activation no longer owns the instance; it must stop without writing.

    A BaseException so that ``except Exception`` in workflow code cannot swallow it.
    """


class StoreUnavailableError(BaseException):
    """A journal write failed in the database (connection lost, deadlock victim).

    Not the workflow's business: the activation stops, releases its lease and
    the instance is dispatched again. A BaseException so user code cannot catch it.
    """


class PauseRequestedError(BaseException):
    """A pause was requested; no new step may start (the step boundary)."""


@dataclasses.dataclass(kw_only=True)
class JournalEntry:
    """An in-memory copy of a StepRecord, read once per activation."""

    pk: int
    type: str
    name: str
    count: int
    seq: int
    status: str
    config: dict[str, Any] | None
    output: Any
    error: dict[str, Any] | None
    wake_at: dt.datetime | None
    detail: dict[str, Any] | None
    attempt_count: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.type, self.name, self.count)


@dataclasses.dataclass(kw_only=True)
class BufferedEvent:
    pk: int
    type: str
    payload: Any
    created_at: dt.datetime


@dataclasses.dataclass(kw_only=True)
class Snapshot:
    """Everything an activation needs, loaded in three queries."""

    pk: int
    instance_id: str
    workflow_name: str
    params: Any
    created_at: dt.datetime
    event_seq: int
    step_count: int
    delivery_count: int  # activations claimed since the last progress, this one included
    meter: MeterKey
    cpu_ms_per_step_limit: int | None  # the account's plan; None means no limit
    retention: dict[str, int]  # seconds a finished instance keeps its state, by outcome
    journal: list[JournalEntry]
    events: list[BufferedEvent]


def _entry(record: StepRecord) -> JournalEntry:
    return JournalEntry(
        pk=record.pk,
        type=record.type,
        name=record.name,
        count=record.count,
        seq=record.seq,
        status=record.status,
        config=record.config,
        output=record.output,
        error=record.error,
        wake_at=record.wake_at,
        detail=record.detail,
        attempt_count=record.attempt_count,
    )


# --- Claiming ---------------------------------------------------------------


def claim(instance_pk: int, *, lease_seconds: float) -> str | None:
    """Take the lease of a due, unleased instance; return the new token or None.

    A compare-and-set UPDATE: two workers racing for the same instance cannot
    both succeed, whatever the database.
    """
    now = clock.now()
    token = secrets.token_hex(16)
    claimed = (
        Instance.objects.filter(pk=instance_pk, status__in=RUNNABLE_STATUSES, wake_at__lte=now)
        .filter(Q(lease_token__isnull=True) | Q(lease_expires_at__lt=now))
        .update(
            lease_token=token,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            status=InstanceStatus.RUNNING,
            started_at=Coalesce(F("started_at"), Value(now)),
            delivery_count=F("delivery_count") + 1,
            modified_at=now,
        )
    )
    return token if claimed else None


def retention_seconds(
    *, instance: dict[str, int] | None, workflow: dict[str, int] | None, plan: Plan
) -> dict[str, int]:
    """How long a finished instance keeps its state: its own, else its workflow's, else the plan's.

    ``success`` applies to complete instances, ``error`` to errored and terminated ones.
    """
    chosen = {"success": plan.retention_days * 86400, "error": plan.retention_days * 86400}
    for override in (workflow, instance):
        for outcome in ("success", "error"):
            if override and override.get(outcome) is not None:
                chosen[outcome] = int(override[outcome])
    return chosen


def load(instance_pk: int) -> Snapshot:
    instance = Instance.objects.select_related("workflow", "account__plan").get(pk=instance_pk)
    plan = plan_of(instance.account)
    records = StepRecord.objects.filter(instance_id=instance_pk).order_by("seq")
    journal = [_entry(r) for r in records]
    events = [
        BufferedEvent(pk=e.pk, type=e.type, payload=e.payload, created_at=e.created_at)
        for e in Event.objects.filter(instance_id=instance_pk, consumed_by__isnull=True).order_by(
            "id"
        )
    ]
    return Snapshot(
        pk=instance.pk,
        instance_id=instance.instance_id,
        workflow_name=instance.workflow.name,
        params=instance.params,
        created_at=instance.created_at,
        event_seq=instance.event_seq,
        step_count=instance.step_count,
        delivery_count=instance.delivery_count,
        meter=MeterKey(instance.account_id, instance.workflow_id, instance.pk % UsageDaily.SHARDS),
        cpu_ms_per_step_limit=plan.cpu_ms_per_step_limit,
        retention=retention_seconds(
            instance=instance.retention, workflow=instance.workflow.default_retention, plan=plan
        ),
        journal=journal,
        events=events,
    )


# --- Fencing ----------------------------------------------------------------


def _fence(
    instance_pk: int, token: str, *, starting: bool, lease_until: dt.datetime, **also: Any
) -> None:
    """Check (and extend) the lease inside the current transaction.

    ``starting`` marks a step boundary: new work may only start while the
    instance is running, so a requested pause takes effect here. Finishing
    work already in flight is also allowed while the pause is pending.
    ``also`` are more instance columns to set in the same statement (one round
    trip fewer on the hot path).
    """
    allowed = (
        [InstanceStatus.RUNNING]
        if starting
        else [InstanceStatus.RUNNING, InstanceStatus.WAITING_FOR_PAUSE]
    )
    updated = Instance.objects.filter(pk=instance_pk, lease_token=token, status__in=allowed).update(
        lease_expires_at=lease_until, modified_at=clock.now(), **also
    )
    if updated:
        return
    if (
        starting
        and Instance.objects.filter(
            pk=instance_pk, lease_token=token, status=InstanceStatus.WAITING_FOR_PAUSE
        ).exists()
    ):
        raise PauseRequestedError
    raise LeaseLostError


def renew_lease(*, instance_pk: int, token: str, lease_seconds: float) -> bool:
    """Heartbeat while a step body runs; False once the lease is gone (terminated, taken)."""
    now = clock.now()
    return bool(
        Instance.objects.filter(
            pk=instance_pk,
            lease_token=token,
            status__in=[InstanceStatus.RUNNING, InstanceStatus.WAITING_FOR_PAUSE],
        ).update(lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
    )


# --- Journal writes -----------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class AttemptStarted:
    entry: JournalEntry
    attempt_pk: int
    number: int


def attempt_start(
    *,
    instance_pk: int,
    token: str,
    lease_until: dt.datetime,
    entry: JournalEntry | None,
    key: tuple[str, str, int],
    seq: int,
    config: dict[str, Any],
    meter_key: MeterKey,
) -> AttemptStarted:
    """Record that an attempt of a step.do begins (creating the step on its first one)."""
    now = clock.now()
    with transaction.atomic(savepoint=False):
        _fence(
            instance_pk,
            token,
            starting=True,
            lease_until=lease_until,
            **({"step_count": F("step_count") + 1} if entry is None else {}),
        )
        if entry is None:
            record = StepRecord.objects.create(
                instance_id=instance_pk,
                type=key[0],
                name=key[1],
                count=key[2],
                seq=seq,
                status=StepStatus.RUNNING,
                config=config,
                attempt_count=1,
                started_at=now,
                stored_bytes=size_of(config),
            )
            meter(meter_key, stored_bytes=record.stored_bytes)
            entry = _entry(record)
        else:
            # An attempt still open here was cut short by a crash: close it as lost.
            StepAttempt.objects.filter(step_id=entry.pk, ended_at__isnull=True).update(
                ended_at=now,
                success=False,
                error_name=WORKER_LOST["name"],
                error_message=WORKER_LOST["message"],
            )
            StepRecord.objects.filter(pk=entry.pk).update(
                status=StepStatus.RUNNING, attempt_count=F("attempt_count") + 1, wake_at=None
            )
            entry.attempt_count += 1
            entry.status = StepStatus.RUNNING
            entry.wake_at = None
        attempt = StepAttempt.objects.create(
            step_id=entry.pk, number=entry.attempt_count, started_at=now
        )
    return AttemptStarted(entry=entry, attempt_pk=attempt.pk, number=entry.attempt_count)


def attempt_finish(
    *,
    instance_pk: int,
    token: str,
    lease_until: dt.datetime,
    entry: JournalEntry,
    attempt_pk: int,
    output: Any = None,
    error: dict[str, Any] | None = None,
    timed_out: bool = False,
    cpu_ms: float,
    wall_ms: float,
    retry_at: dt.datetime | None = None,
    meter_key: MeterKey,
    output_bytes: int = 0,
) -> None:
    """Record an attempt's end and the step's resulting state, atomically."""
    now = clock.now()
    succeeded = error is None
    if succeeded:
        status = StepStatus.SUCCEEDED
    elif retry_at is not None:
        status = StepStatus.RETRYING
    else:
        status = StepStatus.FAILED
    with transaction.atomic(savepoint=False):
        # Progress was made: this delivery is not a poison loop.
        _fence(instance_pk, token, starting=False, lease_until=lease_until, delivery_count=0)
        StepAttempt.objects.filter(pk=attempt_pk).update(
            ended_at=now,
            success=succeeded,
            error_name=(error or {}).get("name", ""),
            error_message=(error or {}).get("message", ""),
            error_traceback=(error or {}).get("traceback", ""),
            timed_out=timed_out,
            cpu_ms=cpu_ms,
            wall_ms=wall_ms,
        )
        stored = (output_bytes if succeeded else 0) + size_of(error)
        StepRecord.objects.filter(pk=entry.pk).update(
            status=status,
            output=output if succeeded else None,
            error=error,
            wake_at=retry_at,
            ended_at=None if status == StepStatus.RETRYING else now,
            stored_bytes=F("stored_bytes") + stored,
        )
        meter(meter_key, attempts=1, cpu_us=us(cpu_ms), wall_us=us(wall_ms), stored_bytes=stored)
    entry.status, entry.output, entry.error, entry.wake_at = status, output, error, retry_at


def waiter_register(
    *,
    instance_pk: int,
    token: str,
    lease_until: dt.datetime,
    key: tuple[str, str, int],
    seq: int,
    wake_at: dt.datetime,
    detail: dict[str, Any],
    meter_key: MeterKey,
) -> JournalEntry:
    """Persist a sleep or an event wait, with its deadline, the first time it is reached."""
    with transaction.atomic(savepoint=False):
        _fence(instance_pk, token, starting=True, lease_until=lease_until)
        record = StepRecord.objects.create(
            instance_id=instance_pk,
            type=key[0],
            name=key[1],
            count=key[2],
            seq=seq,
            status=StepStatus.WAITING,
            wake_at=wake_at,
            detail=detail,
            started_at=clock.now(),
            stored_bytes=size_of(detail),
        )
        meter(meter_key, stored_bytes=record.stored_bytes)
    return _entry(record)


def waiter_finish(
    *,
    instance_pk: int,
    token: str,
    lease_until: dt.datetime,
    entry: JournalEntry,
    output: Any = None,
    error: dict[str, Any] | None = None,
    event_pk: int | None = None,
    meter_key: MeterKey,
) -> bool:
    """End a sleep or a wait: elapsed, received an event, or timed out.

    Returns False if the event was taken by someone else meanwhile.
    """
    with transaction.atomic(savepoint=False):
        _fence(instance_pk, token, starting=True, lease_until=lease_until, delivery_count=0)
        if event_pk is not None and not Event.objects.filter(
            pk=event_pk, consumed_by__isnull=True
        ).update(consumed_by_id=entry.pk):
            return False
        status = StepStatus.FAILED if error else StepStatus.SUCCEEDED
        stored = size_of(output) + size_of(error)
        StepRecord.objects.filter(pk=entry.pk).update(
            status=status,
            output=output,
            error=error,
            ended_at=clock.now(),
            stored_bytes=F("stored_bytes") + stored,
        )
        meter(meter_key, stored_bytes=stored)
    entry.status, entry.output, entry.error = status, output, error
    return True


def waiter_cancel(
    *,
    instance_pk: int,
    token: str,
    lease_until: dt.datetime,
    entry: JournalEntry,
    meter_key: MeterKey,
) -> None:
    """Close a sleep or wait that run() abandoned: it never wakes or takes an event again."""
    _fence(instance_pk, token, starting=False, lease_until=lease_until)
    StepRecord.objects.filter(pk=entry.pk, status=StepStatus.WAITING).update(
        status=StepStatus.CANCELLED, ended_at=clock.now()
    )
    entry.status = StepStatus.CANCELLED


# --- Deferred writes ----------------------------------------------------------


def apply(fn: Callable[..., Any], kwargs: dict[str, Any], pending: Sequence[Any]) -> Any:
    """Commit the deferred writes ``pending`` (Io commands) with ``fn`` in one transaction.

    Every write fences on its own, so a lost lease rolls back all of them.
    """
    try:
        if not pending:
            return fn(**kwargs)
        with transaction.atomic(savepoint=False):
            for io in pending:
                io.fn(**io.kwargs)
            return fn(**kwargs)
    except DatabaseError as exc:
        raise StoreUnavailableError(str(exc)) from exc


# --- Ending an activation -----------------------------------------------------


def finish(
    *,
    instance_pk: int,
    token: str,
    status: str,
    output: Any = None,
    error: dict[str, Any] | None = None,
    replay_cpu_ms: float = 0,
    pending: Sequence[Any] = (),
    meter_key: MeterKey,
    retention: dict[str, int] | None = None,
) -> bool:
    """Write a terminal status (complete or errored) and release the lease.

    ``pending`` deferred writes commit with it, or not at all if the lease is lost.
    """
    now = clock.now()
    stored = size_of(output) + size_of(error)
    with transaction.atomic(savepoint=False):
        for io in pending:
            io.fn(**io.kwargs)
        finished = bool(
            Instance.objects.filter(
                pk=instance_pk,
                lease_token=token,
                status__in=[InstanceStatus.RUNNING, InstanceStatus.WAITING_FOR_PAUSE],
            ).update(
                status=status,
                output=output,
                error=error,
                ended_at=now,
                modified_at=now,
                wake_at=None,
                lease_token=None,
                lease_expires_at=None,
                delivery_count=0,
                replay_cpu_us=F("replay_cpu_us") + us(replay_cpu_ms),
                stored_bytes=F("stored_bytes") + stored,
                purge_after=None
                if retention is None
                else now
                + dt.timedelta(
                    seconds=retention["success" if status == InstanceStatus.COMPLETE else "error"]
                ),
            )
        )
        if not finished:
            raise LeaseLostError  # and the deferred writes roll back with it
        meter(meter_key, cpu_us=us(replay_cpu_ms), stored_bytes=stored)
    return True


def suspend(
    *,
    instance_pk: int,
    token: str,
    wake_at: dt.datetime | None,
    seen_event_seq: int,
    pause: bool,
    replay_cpu_ms: float = 0,
    pending: Sequence[Any] = (),
    meter_key: MeterKey,
) -> dt.datetime | None:
    """Release the lease, leaving the instance waiting (or paused) until ``wake_at``.

    Returns the wake time actually written: ``now`` when an event arrived
    during the activation, so the caller replays again at once instead of
    sleeping past it.
    """
    now = clock.now()
    with transaction.atomic(savepoint=False):
        for io in pending:
            io.fn(**io.kwargs)
        row = (
            Instance.objects.select_for_update()
            .filter(pk=instance_pk, lease_token=token)
            .values("status", "event_seq")
            .first()
        )
        if row is None or row["status"] not in (
            InstanceStatus.RUNNING,
            InstanceStatus.WAITING_FOR_PAUSE,
        ):
            raise LeaseLostError
        common = {
            "modified_at": now,
            "lease_token": None,
            "lease_expires_at": None,
            "delivery_count": 0,
            "replay_cpu_us": F("replay_cpu_us") + us(replay_cpu_ms),
        }
        meter(meter_key, cpu_us=us(replay_cpu_ms))
        if row["status"] == InstanceStatus.WAITING_FOR_PAUSE:
            Instance.objects.filter(pk=instance_pk).update(
                status=InstanceStatus.PAUSED, paused_at=now, wake_at=None, **common
            )
            return None
        if pause or row["event_seq"] != seen_event_seq:
            # A branch parked at a pause that was resumed meanwhile, or an event
            # arrived during the activation: replay again at once.
            wake_at = now
        Instance.objects.filter(pk=instance_pk).update(
            status=InstanceStatus.WAITING, wake_at=wake_at, **common
        )
    return wake_at


def release(*, instance_pk: int, token: str) -> None:
    """Give the lease back without changing anything else (a retryable worker failure)."""
    Instance.objects.filter(pk=instance_pk, lease_token=token).update(
        lease_token=None, lease_expires_at=None
    )


def step_abandon(
    *,
    instance_pk: int,
    token: str,
    lease_until: dt.datetime,
    entry: JournalEntry,
    meter_key: MeterKey,
) -> None:
    """Fail a step whose every allowed attempt was lost with its worker."""
    now = clock.now()
    with transaction.atomic(savepoint=False):
        _fence(instance_pk, token, starting=True, lease_until=lease_until)
        StepAttempt.objects.filter(step_id=entry.pk, ended_at__isnull=True).update(
            ended_at=now,
            success=False,
            error_name=WORKER_LOST["name"],
            error_message=WORKER_LOST["message"],
        )
        StepRecord.objects.filter(pk=entry.pk).update(
            status=StepStatus.FAILED,
            error=WORKER_LOST,
            ended_at=now,
            stored_bytes=F("stored_bytes") + size_of(WORKER_LOST),
        )
        meter(meter_key, stored_bytes=size_of(WORKER_LOST))
    entry.status, entry.error = StepStatus.FAILED, WORKER_LOST


# --- Finding work ---------------------------------------------------------------


def due_instance_pks(*, limit: int) -> list[int]:
    """Instances whose timer is due and that no live lease holds, oldest first.

    The same query finds work the doorbell missed: an instance committed but
    never enqueued, or one whose worker died mid-activation (its lease expires
    and its ``wake_at`` is still in the past).
    """
    now = clock.now()
    return list(
        Instance.objects.filter(status__in=RUNNABLE_STATUSES, wake_at__lte=now)
        .filter(Q(lease_token__isnull=True) | Q(lease_expires_at__lt=now))
        .order_by("wake_at")
        .values_list("pk", flat=True)[:limit]
    )


# How many instances one scheduler round sends at most.
DISPATCH_BATCH = 500


def due_instance_pks_for_dispatch(
    *, limit: int, redispatch_seconds: float, doorbell_grace_seconds: float | None = None
) -> list[int]:
    """Take a batch of due instances to send to the workers, marking them as sent.

    Several schedulers may run: on PostgreSQL the batch is locked with
    ``FOR UPDATE SKIP LOCKED`` (SQLite serialises writers), and each instance
    taken is *marked*: ``lease_expires_at = now + redispatch_seconds`` with no
    token. The mark is not a lease (``claim`` ignores a tokenless expiry, so a
    worker takes the instance at once); it only keeps this query from sending
    the instance again while its message is on its way. If no worker claimed
    it when the mark runs out (a lost message, a flushed broker) it is sent
    again. A dead worker's expired lease is dropped here too, which fences off
    that worker should it wake up.

    An instance made due by a write (created, sent an event, resumed,
    restarted: ``wake_at`` is that write's ``modified_at``) was sent by that
    write's doorbell after commit, so it is left alone for
    ``doorbell_grace_seconds`` (default: ``redispatch_seconds``). A timer that
    came due since the last write (``wake_at > modified_at``) is sent at once.
    """
    now = clock.now()
    grace = redispatch_seconds if doorbell_grace_seconds is None else doorbell_grace_seconds
    with transaction.atomic():
        pks = list(
            Instance.objects.select_for_update(skip_locked=True)
            .filter(status__in=RUNNABLE_STATUSES, wake_at__lte=now)
            .filter(Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
            .filter(
                Q(wake_at__gt=F("modified_at")) | Q(wake_at__lte=now - dt.timedelta(seconds=grace))
            )
            .order_by("wake_at")
            .values_list("pk", flat=True)[:limit]
        )
        if pks:
            Instance.objects.filter(pk__in=pks).update(
                lease_token=None,
                lease_expires_at=now + dt.timedelta(seconds=redispatch_seconds),
            )
    return pks


def next_wake_at() -> dt.datetime | None:
    """The earliest future timer of a runnable instance (the scheduler sleeps until then)."""
    return (
        Instance.objects.filter(status__in=RUNNABLE_STATUSES, wake_at__gt=clock.now())
        .order_by("wake_at")
        .values_list("wake_at", flat=True)
        .first()
    )


def pause_stalled(*, limit: int = DISPATCH_BATCH) -> int:
    """Pause instances whose requested pause waits on a worker whose lease expired.

    A pause requested during a step takes effect when that step ends; if the
    worker died meanwhile nobody would ever finish it. The step's open attempt
    is closed as lost when the instance resumes.
    """
    now = clock.now()
    stalled = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    with transaction.atomic():
        pks = list(
            Instance.objects.select_for_update(skip_locked=True)
            .filter(stalled, status=InstanceStatus.WAITING_FOR_PAUSE)
            .values_list("pk", flat=True)[:limit]
        )
        if not pks:
            return 0
        return Instance.objects.filter(
            stalled, pk__in=pks, status=InstanceStatus.WAITING_FOR_PAUSE
        ).update(
            status=InstanceStatus.PAUSED,
            paused_at=now,
            wake_at=None,
            lease_token=None,
            lease_expires_at=None,
            modified_at=now,
        )
