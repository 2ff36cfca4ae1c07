"""Leases: take an instance (by pk, or the most overdue due one) and keep it.

A lease is a token and an expiry on the instance row. Taking one is a single
compare-and-set statement, so two workers can never both hold it; every
comparison of expiry and due time is made with the database's clock
(``dbtime``), so no host's skew can steal a live lease.
"""

from __future__ import annotations

import secrets

from django.db import connection
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from workflows_app.models import RUNNABLE_STATUSES, Instance, InstanceStatus

from .. import clock
from . import dbtime


def claim(instance_pk: int, *, lease_seconds: float) -> str | None:
    """Take the lease of a due, unleased instance; return the new token or None.

    A compare-and-set UPDATE: two workers racing for the same instance cannot
    both succeed, whatever the database. Due and expired are judged by the
    database's clock, and the lease ends ``lease_seconds`` after it.
    """
    now = clock.now()
    token = secrets.token_hex(16)
    claimed = (
        Instance.objects.filter(
            pk=instance_pk, status__in=RUNNABLE_STATUSES, wake_at__lte=dbtime.now()
        )
        .filter(Q(lease_token__isnull=True) | Q(lease_expires_at__lt=dbtime.now()))
        .update(
            lease_token=token,
            lease_expires_at=dbtime.after(lease_seconds),
            status=InstanceStatus.RUNNING,
            started_at=Coalesce(F("started_at"), Value(now)),
            delivery_count=F("delivery_count") + 1,
            modified_at=now,
        )
    )
    return token if claimed else None


def claim_next(*, lease_seconds: float) -> tuple[int, str] | None:
    """Take the lease of the most overdue due instance; return ``(pk, token)`` or None.

    One statement: ``UPDATE … WHERE pk = (SELECT … ORDER BY wake_at LIMIT 1
    FOR UPDATE SKIP LOCKED) RETURNING pk``. On PostgreSQL concurrent workers
    skip each other's rows; SQLite (3.35+ for ``RETURNING``) serialises
    writers. An instance whose lease expired is simply due again, in the order
    of its ``wake_at``: it is taken before any instance that came due after it,
    whatever the backlog. Due and expired are judged by the database's clock.
    """
    now = clock.now()
    token = secrets.token_hex(16)
    table = connection.ops.quote_name(Instance._meta.db_table)
    db_now, params = dbtime.sql()
    lease_end, lease_params = dbtime.sql(lease_seconds, name="lease_end")
    params.update(lease_params)
    skip_locked = connection.features.has_select_for_update_skip_locked
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    due = (
        f"status IN ({', '.join(f'%(status_{i})s' for i in range(len(RUNNABLE_STATUSES)))})"
        f" AND wake_at <= {db_now}"
        f" AND (lease_token IS NULL OR lease_expires_at < {db_now})"
    )
    params.update({f"status_{i}": str(s) for i, s in enumerate(sorted(RUNNABLE_STATUSES))})
    params.update(
        token=token,
        running=str(InstanceStatus.RUNNING),
        now=connection.ops.adapt_datetimefield_value(now),
    )
    sql = (
        f"UPDATE {table} SET lease_token = %(token)s, lease_expires_at = {lease_end},"
        " status = %(running)s, started_at = COALESCE(started_at, %(now)s),"
        " delivery_count = delivery_count + 1, modified_at = %(now)s"
        f" WHERE id = (SELECT id FROM {table} WHERE {due}"
        f" ORDER BY wake_at LIMIT 1{lock}) AND {due}"
        f" RETURNING id, {db_now}"
    )
    sent = clock.host_now()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    if "db_now" not in params:  # the database read its own clock: keep ours near it
        clock.observe_database_time(row[1], sent, clock.host_now())
    return int(row[0]), token


def renew_lease(*, instance_pk: int, token: str, lease_seconds: float) -> bool:
    """Heartbeat while a step body runs; False once the lease is gone (terminated, taken)."""
    return bool(
        Instance.objects.filter(
            pk=instance_pk,
            lease_token=token,
            status__in=[InstanceStatus.RUNNING, InstanceStatus.WAITING_FOR_PAUSE],
        ).update(lease_expires_at=dbtime.after(lease_seconds))
    )
