"""Usage meters: the one place where they are keyed and written.

Every write that changes what an account uses (an invocation, an attempt's
CPU and wall time, stored bytes) adds to the day's counters in the same
transaction, so the meters always equal the sums over the journal. The engine
meters its own writes; services meter theirs (creating, sending an event,
restarting, deleting, purging) through the same ``meter``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db import connection

from workflows_app.models import Instance, UsageDaily

from .. import clock
from ..serialization import encoded_size


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeterKey:
    """Where an instance's usage is counted: its account, workflow and counter shard."""

    account_id: str
    workflow_id: int
    shard: int

    @classmethod
    def for_instance(cls, instance: Instance) -> MeterKey:
        # Shards spread the upserts of busy workflows over several rows.
        return cls(
            account_id=instance.account_id,
            workflow_id=instance.workflow_id,
            shard=instance.pk % UsageDaily.SHARDS,
        )


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
    """Stored bytes of a JSON value (0 for None): what the stored-bytes meter counts."""
    return 0 if value is None else encoded_size(value)


def us(ms: float) -> int:
    """Milliseconds as whole microseconds: the meters' unit, summed exactly."""
    return round(ms * 1000)
