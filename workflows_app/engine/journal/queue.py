"""The due-work queue: which instances need a worker now, and when the next one will.

There is no queue table, and the broker carries no work: an instance is due
when it is runnable, its ``wake_at`` has passed and no live lease holds it.
Workers take due instances themselves (``store.claim_next``: the most overdue
first); the scheduler only counts them, to ring as many doorbells as there is
due work. Every comparison here is made with the database's clock
(``dbtime``), never with this process's.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F, Q

from workflows_app.models import RUNNABLE_STATUSES, Instance, InstanceStatus

from .. import clock
from . import dbtime

# How many instances one scheduler round pauses (or the inline tick advances) at most.
DISPATCH_BATCH = 500

# An instance made due by a write (created, sent an event, resumed) had its
# doorbell rung by that write after commit: the scheduler leaves it out of its
# count this long, so that doorbell and the scheduler's do not both go out.
DOORBELL_GRACE_SECONDS = 2.0


def _due() -> Q:
    """Runnable, timer passed, no live lease (an expired lease is just due again)."""
    return Q(status__in=RUNNABLE_STATUSES, wake_at__lte=dbtime.now()) & (
        Q(lease_token__isnull=True) | Q(lease_expires_at__lt=dbtime.now())
    )


def due_instance_pks(*, limit: int) -> list[int]:
    """Instances whose timer is due and that no live lease holds, most overdue first.

    The same query finds work the doorbell missed: an instance committed but
    never enqueued, or one whose worker died mid-activation (its lease expires
    and its ``wake_at`` is still in the past).
    """
    return list(
        Instance.objects.filter(_due()).order_by("wake_at").values_list("pk", flat=True)[:limit]
    )


def due_count(*, limit: int) -> int:
    """How many instances are due and unclaimed (at most ``limit``), doorbells on their way aside.

    An instance made due by a write (``wake_at`` is that write's
    ``modified_at``) less than ``DOORBELL_GRACE_SECONDS`` ago is left out: its
    doorbell was rung after that write's commit. A timer that came due since
    the last write (``wake_at > modified_at``) counts at once.
    """
    fresh = Q(wake_at=F("modified_at")) & Q(wake_at__gt=dbtime.after(-DOORBELL_GRACE_SECONDS))
    return Instance.objects.filter(_due()).exclude(fresh)[:limit].count()


def next_wake_at() -> dt.datetime | None:
    """The earliest future timer of a runnable instance, on this process's clock.

    The database decides what "future" is and how far away it is; the answer
    is shifted onto this process's clock, so the scheduler sleeps the right
    time (``upcoming - clock.now()``) even if its host clock is skewed.
    """
    row = (
        Instance.objects.filter(status__in=RUNNABLE_STATUSES, wake_at__gt=dbtime.now())
        .annotate(db_now=dbtime.now())
        .order_by("wake_at")
        .values_list("wake_at", "db_now")
        .first()
    )
    if row is None:
        return None
    wake_at, db_now = row
    upcoming: dt.datetime = clock.now() + (wake_at - db_now)
    return upcoming


def pause_stalled(*, limit: int = DISPATCH_BATCH) -> int:
    """Pause instances whose requested pause waits on a worker whose lease expired.

    A pause requested during a step takes effect when that step ends; if the
    worker died meanwhile nobody would ever finish it. The step's open attempt
    is closed as lost when the instance resumes.
    """
    now = clock.now()
    stalled = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=dbtime.now())
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
