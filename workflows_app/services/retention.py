"""Purging the state of finished instances whose retention has run out."""

from __future__ import annotations

from django.db import transaction

from workflows_app.billing import quotas
from workflows_app.engine import clock
from workflows_app.engine.journal.meters import MeterKey, meter
from workflows_app.models import (
    Event,
    Instance,
    StepRecord,
)


def retention_purge(*, limit: int = 500) -> int:
    """Purge the state of finished instances whose retention has run out.

    Steps, attempts and events are deleted and params/output/error cleared; the
    instance row stays as a tombstone (status, timestamps, step count, CPU) so
    lists and bills stay consistent. The storage meter drops by exactly the
    bytes removed. Returns how many instances were purged.
    """
    now = clock.now()
    due = list(
        Instance.objects.filter(purge_after__lt=now, purged_at__isnull=True)
        .order_by("purge_after")
        .values_list("pk", flat=True)[:limit]
    )
    purged = 0
    for pk in due:
        with transaction.atomic():
            instance = Instance.objects.select_for_update().filter(pk=pk).first()
            if instance is None or instance.purged_at is not None or instance.purge_after is None:
                continue  # deleted, purged or restarted meanwhile
            freed = quotas.instance_stored_bytes(instance)
            Event.objects.filter(instance=instance).delete()
            StepRecord.objects.filter(instance=instance).delete()
            Instance.objects.filter(pk=pk).update(
                params=None, output=None, error=None, stored_bytes=0, purged_at=now
            )
            meter(MeterKey.for_instance(instance), stored_bytes=-freed)
        purged += 1
    return purged
