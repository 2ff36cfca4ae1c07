"""The journal store: load an instance's journal, write it under a fenced lease.

Taking and renewing the lease itself lives in ``leases.py`` (re-exported here).

Every write made on behalf of an activation is *fenced*: it first updates the
instance row conditioned on the activation's lease token, in the same
transaction. A worker that stalled past its lease (GC pause, SIGSTOP, a
partition) finds its token replaced and its late write changes nothing.
Writes take the activation's ``Activation`` handle: who writes, under which
lease, metered where.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import Expression, F, Q, QuerySet

from workflows_app.billing.plans import plan_of
from workflows_app.models import (
    Event,
    Instance,
    InstanceStatus,
    StepAttempt,
    StepRecord,
    StepStatus,
)

from .. import clock
from ..commands import Io
from ..errors import LeaseLostError, PauseRequestedError, StoreUnavailableError
from . import dbtime

# Re-exported: callers take and renew leases through ``store`` as before.
from .leases import claim as claim
from .leases import claim_next as claim_next
from .leases import renew_lease as renew_lease
from .meters import MeterKey, meter, size_of, us
from .retention import purge_after, retention_seconds

WORKER_LOST = {
    "name": "WorkerLostError",
    "module": "",
    "message": "the worker running this attempt stopped before the attempt finished",
    "traceback": "",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Activation:
    """The identity one activation writes under: its instance, its lease, its meters.

    Built once per activation, after ``claim`` and ``load``, and handed to every
    write: each one fences on ``token`` and extends the lease by ``lease_seconds``.
    """

    instance_pk: int
    token: str
    lease_seconds: float
    meter: MeterKey
    retention: dict[str, int]  # seconds a finished instance keeps its state, by outcome

    def lease_until(self) -> Expression:
        """The lease's new end, for a write made now (on the database's clock)."""
        return dbtime.after(self.lease_seconds)


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
    created_at: dt.datetime  # its arrival, stamped by the database's clock
    for_step: int | None = None  # the one waiting step it answers (a console decision)


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

    def activation(self, *, token: str, lease_seconds: float) -> Activation:
        """The handle the activation that loaded this snapshot writes under."""
        return Activation(
            instance_pk=self.pk,
            token=token,
            lease_seconds=lease_seconds,
            meter=self.meter,
            retention=self.retention,
        )


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


# --- Loading ----------------------------------------------------------------


def load(instance_pk: int) -> Snapshot:
    """Read the instance, its plan, its journal and its buffered events (three queries)."""
    instance = Instance.objects.select_related("workflow", "account__plan").get(pk=instance_pk)
    plan = plan_of(instance.account)
    records = StepRecord.objects.filter(instance_id=instance_pk).order_by("seq")
    journal = [_entry(r) for r in records]
    events = [
        BufferedEvent(
            pk=e.pk,
            type=e.type,
            payload=e.payload,
            created_at=e.created_at,
            for_step=e.for_step_id,
        )
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
        meter=MeterKey.for_instance(instance),
        cpu_ms_per_step_limit=plan.cpu_ms_per_step_limit,
        retention=retention_seconds(
            instance=instance.retention, workflow=instance.workflow.default_retention, plan=plan
        ),
        journal=journal,
        events=events,
    )


# --- Fencing ----------------------------------------------------------------


def _fence(activation: Activation, *, starting: bool, **also: Any) -> None:
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
    mine = Instance.objects.filter(pk=activation.instance_pk, lease_token=activation.token)
    updated = mine.filter(status__in=allowed).update(
        lease_expires_at=activation.lease_until(), modified_at=clock.now(), **also
    )
    if updated:
        return
    if starting and mine.filter(status=InstanceStatus.WAITING_FOR_PAUSE).exists():
        raise PauseRequestedError
    raise LeaseLostError


# --- Journal writes -----------------------------------------------------------


@dataclasses.dataclass(kw_only=True)
class AttemptStarted:
    entry: JournalEntry
    attempt_pk: int
    number: int


def attempt_start(
    *,
    activation: Activation,
    entry: JournalEntry | None,
    key: tuple[str, str, int],
    seq: int,
    config: dict[str, Any],
) -> AttemptStarted:
    """Record that an attempt of a step.do begins (creating the step on its first one)."""
    now = clock.now()
    with transaction.atomic(savepoint=False):
        _fence(
            activation,
            starting=True,
            **({"step_count": F("step_count") + 1} if entry is None else {}),
        )
        if entry is None:
            record = StepRecord.objects.create(
                instance_id=activation.instance_pk,
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
            meter(activation.meter, stored_bytes=record.stored_bytes)
            entry = _entry(record)
        else:
            # An attempt still open here was cut short by a crash: close it as lost.
            _close_lost_attempts(entry, now)
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
    activation: Activation,
    entry: JournalEntry,
    attempt_pk: int,
    output: Any = None,
    error: dict[str, Any] | None = None,
    timed_out: bool = False,
    cpu_ms: float,
    wall_ms: float,
    retry_at: dt.datetime | None = None,
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
        _fence(activation, starting=False, delivery_count=0)
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
        meter(
            activation.meter,
            attempts=1,
            cpu_us=us(cpu_ms),
            wall_us=us(wall_ms),
            stored_bytes=stored,
        )
    entry.status, entry.output, entry.error, entry.wake_at = status, output, error, retry_at


def waiter_register(
    *,
    activation: Activation,
    key: tuple[str, str, int],
    seq: int,
    wake_at: dt.datetime,
    detail: dict[str, Any],
) -> JournalEntry:
    """Persist a sleep or an event wait, with its deadline, the first time it is reached."""
    with transaction.atomic(savepoint=False):
        _fence(activation, starting=True)
        record = StepRecord.objects.create(
            instance_id=activation.instance_pk,
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
        meter(activation.meter, stored_bytes=record.stored_bytes)
    return _entry(record)


def waiter_finish(
    *,
    activation: Activation,
    entry: JournalEntry,
    output: Any = None,
    error: dict[str, Any] | None = None,
    event_pk: int | None = None,
    seen_events: Sequence[int] = (),
) -> bool:
    """End a sleep or a wait: elapsed, received an event, or timed out.

    Returns False, writing nothing to the journal, if the event cannot be taken (taken by
    someone else meanwhile, or a decision addressed to this wait is buffered and
    goes first), or if a timeout is refused because an event this wait may take
    arrived by its deadline after the activation read its events (those it read
    are ``seen_events``): the next activation, woken at once by that arrival,
    takes it.
    """
    with transaction.atomic(savepoint=False):
        _fence(activation, starting=True, delivery_count=0)
        if event_pk is not None or error is not None:
            takeable = _takeable_events(activation.instance_pk, entry)
            if event_pk is not None and (
                takeable.filter(for_step_id=entry.pk).exclude(pk=event_pk).exists()
                or not takeable.filter(pk=event_pk).update(consumed_by_id=entry.pk)
            ):
                return False
            if event_pk is None and takeable.exclude(pk__in=seen_events).exists():
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
        meter(activation.meter, stored_bytes=stored)
    entry.status, entry.output, entry.error = status, output, error
    return True


def _takeable_events(instance_pk: int, entry: JournalEntry) -> QuerySet[Event]:
    """The buffered events a wait may take: of its type, and either a decision
    addressed to it (``approval_decide`` admitted it before the deadline) or
    addressed to no step and arrived (``created_at``, the database's clock) by
    its deadline (``wake_at``)."""
    on_time = Q() if entry.wake_at is None else Q(created_at__lte=entry.wake_at)
    return Event.objects.filter(
        Q(for_step_id=entry.pk) | (Q(for_step__isnull=True) & on_time),
        instance_id=instance_pk,
        type=(entry.detail or {}).get("type"),
        consumed_by__isnull=True,
    )


def waiter_cancel(*, activation: Activation, entry: JournalEntry) -> None:
    """Close a sleep or wait that run() abandoned: it never wakes or takes an event again."""
    _fence(activation, starting=False)
    StepRecord.objects.filter(pk=entry.pk, status=StepStatus.WAITING).update(
        status=StepStatus.CANCELLED, ended_at=clock.now()
    )
    entry.status = StepStatus.CANCELLED


# --- Deferred writes ----------------------------------------------------------


def _write_pending(pending: Sequence[Io]) -> None:
    for io in pending:
        io.fn(**io.kwargs)


def apply(fn: Callable[..., Any], kwargs: dict[str, Any], pending: Sequence[Io]) -> Any:
    """Commit the deferred writes ``pending`` with ``fn`` in one transaction.

    Every write fences on its own, so a lost lease rolls back all of them.
    """
    try:
        if not pending:
            return fn(**kwargs)
        with transaction.atomic(savepoint=False):
            _write_pending(pending)
            return fn(**kwargs)
    except DatabaseError as exc:
        raise StoreUnavailableError(str(exc)) from exc


# --- Ending an activation -----------------------------------------------------


def finish(
    *,
    activation: Activation,
    status: str,
    output: Any = None,
    error: dict[str, Any] | None = None,
    replay_cpu_ms: float = 0,
    pending: Sequence[Io] = (),
) -> bool:
    """Write a terminal status (complete or errored) and release the lease.

    ``pending`` deferred writes commit with it, or not at all if the lease is lost.
    """
    now = clock.now()
    stored = size_of(output) + size_of(error)
    with transaction.atomic(savepoint=False):
        _write_pending(pending)
        finished = bool(
            Instance.objects.filter(
                pk=activation.instance_pk,
                lease_token=activation.token,
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
                purge_after=purge_after(activation.retention, status=status, now=now),
            )
        )
        if not finished:
            raise LeaseLostError  # and the deferred writes roll back with it
        meter(activation.meter, cpu_us=us(replay_cpu_ms), stored_bytes=stored)
    return True


def suspend(
    *,
    activation: Activation,
    wake_at: dt.datetime | None,
    seen_event_seq: int,
    pause: bool,
    replay_cpu_ms: float = 0,
    pending: Sequence[Io] = (),
) -> dt.datetime | None:
    """Release the lease, leaving the instance waiting (or paused) until ``wake_at``.

    Returns the wake time actually written: ``now`` when an event arrived
    during the activation, so the caller replays again at once instead of
    sleeping past it.
    """
    now = clock.now()
    with transaction.atomic(savepoint=False):
        _write_pending(pending)
        row = (
            Instance.objects.select_for_update()
            .filter(pk=activation.instance_pk, lease_token=activation.token)
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
        meter(activation.meter, cpu_us=us(replay_cpu_ms))
        if row["status"] == InstanceStatus.WAITING_FOR_PAUSE:
            Instance.objects.filter(pk=activation.instance_pk).update(
                status=InstanceStatus.PAUSED, paused_at=now, wake_at=None, **common
            )
            return None
        if pause or row["event_seq"] != seen_event_seq:
            # A branch parked at a pause that was resumed meanwhile, or an event
            # arrived during the activation: replay again at once.
            wake_at = now
        Instance.objects.filter(pk=activation.instance_pk).update(
            status=InstanceStatus.WAITING, wake_at=wake_at, **common
        )
    return wake_at


def release(*, instance_pk: int, token: str) -> None:
    """Give the lease back without changing anything else (a retryable worker failure)."""
    Instance.objects.filter(pk=instance_pk, lease_token=token).update(
        lease_token=None, lease_expires_at=None
    )


def step_abandon(*, activation: Activation, entry: JournalEntry) -> None:
    """Fail a step whose every allowed attempt was lost with its worker."""
    now = clock.now()
    with transaction.atomic(savepoint=False):
        _fence(activation, starting=True)
        _close_lost_attempts(entry, now)
        StepRecord.objects.filter(pk=entry.pk).update(
            status=StepStatus.FAILED,
            error=WORKER_LOST,
            ended_at=now,
            stored_bytes=F("stored_bytes") + size_of(WORKER_LOST),
        )
        meter(activation.meter, stored_bytes=size_of(WORKER_LOST))
    entry.status, entry.error = StepStatus.FAILED, WORKER_LOST


def _close_lost_attempts(entry: JournalEntry, now: dt.datetime) -> None:
    """Close the step's attempt left open by a worker that died during it."""
    StepAttempt.objects.filter(step_id=entry.pk, ended_at__isnull=True).update(
        ended_at=now,
        success=False,
        error_name=WORKER_LOST["name"],
        error_message=WORKER_LOST["message"],
    )
