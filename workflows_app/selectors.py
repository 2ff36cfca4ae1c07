"""Reads for the binding, the REST API and the console: few queries, no N+1."""

from __future__ import annotations

from typing import Any

from workflows_app.engine.errors import InstanceNotFoundError, WorkflowNotFoundError
from workflows_app.engine.serialization import public_error
from workflows_app.models import Account, Instance, StepRecord, Workflow


def workflow_get(*, account: Account, name: str) -> Workflow:
    try:
        return Workflow.objects.get(account=account, name=name)
    except Workflow.DoesNotExist:
        raise WorkflowNotFoundError(f"Workflow {name!r} not found") from None


def instance_get(*, workflow: Workflow, instance_id: str) -> Instance:
    try:
        return Instance.objects.select_related("workflow").get(
            workflow=workflow, instance_id=instance_id
        )
    except Instance.DoesNotExist:
        raise InstanceNotFoundError(f"Workflow instance {instance_id!r} not found") from None


def _step_view(record: StepRecord) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": record.type,
        "name": record.name,
        "count": record.count,
        "status": record.status,
        "start": record.started_at,
        "end": record.ended_at,
        "output": record.output,
        "error": public_error(record.error),
    }
    if record.type == "do":
        view["config"] = record.config
        view["next_attempt_at"] = record.wake_at
        view["attempts"] = [
            {
                "number": a.number,
                "start": a.started_at,
                "end": a.ended_at,
                "success": a.success,
                "error": (
                    {"name": a.error_name, "message": a.error_message} if a.error_name else None
                ),
                "timed_out": a.timed_out,
                "cpu_ms": a.cpu_ms,
                "wall_ms": a.wall_ms,
            }
            for a in record.attempts.all()
        ]
    elif record.type == "sleep":
        view["until"] = record.wake_at
    else:
        view["event_type"] = (record.detail or {}).get("type")
        view["timeout_at"] = record.wake_at
    return view


def instance_steps(*, instance: Instance) -> list[dict[str, Any]]:
    """The journal in the order steps were reached, every attempt included (2 queries)."""
    records = (
        StepRecord.objects.filter(instance=instance).order_by("seq").prefetch_related("attempts")
    )
    return [_step_view(r) for r in records]


def instance_status(*, instance: Instance, with_steps: bool = True) -> dict[str, Any]:
    """``{"status", "error", "output"}`` plus the steps, as the binding returns it."""
    instance.refresh_from_db()
    view: dict[str, Any] = {
        "status": instance.status,
        "error": public_error(instance.error),
        "output": instance.output,
    }
    if with_steps:
        view["steps"] = instance_steps(instance=instance)
    return view
