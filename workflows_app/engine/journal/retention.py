"""Retention: how long a finished instance keeps its state before it is purged.

The store stamps ``purge_after`` when an activation finishes an instance; the
services stamp it when a user terminates one. Both ask this module.
"""

from __future__ import annotations

import datetime as dt

from workflows_app.models import InstanceStatus, Plan


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


def purge_after(retention: dict[str, int], *, status: str, now: dt.datetime) -> dt.datetime:
    """When an instance that ended ``status`` at ``now`` is purged."""
    outcome = "success" if status == InstanceStatus.COMPLETE else "error"
    return now + dt.timedelta(seconds=retention[outcome])
