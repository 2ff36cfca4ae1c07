"""The due-work queue: which instances need a worker now, and when the next one will.

There is no queue table: an instance is due when it is runnable, its
``wake_at`` has passed and no live lease holds it. The scheduler reads these
queries and marks what it sends; ``claim`` (in ``store.py``) decides who runs it.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F, Q

from workflows_app.models import RUNNABLE_STATUSES, Instance, InstanceStatus

from .. import clock

# How many instances one scheduler round sends (or pauses) at most.
DISPATCH_BATCH = 500


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
