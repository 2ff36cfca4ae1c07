"""Model rows → the JSON shapes of Cloudflare's REST API (shared with the CLI's --json).

Cloudflare has versions and script names; here a workflow is code registered in
the app, so ``version_id`` and ``workflow_id`` are stable UUIDs derived from
the row, and ``script_name`` is the Python module holding the class.
"""

from __future__ import annotations

import uuid
from typing import Any

from workflows_app import selectors
from workflows_app.engine.serialization import public_error
from workflows_app.models import TERMINAL_STATUSES, Instance, InstanceStatus, StepRecord, Workflow

_NAMESPACE = uuid.UUID("6f1d7f0e-4d8e-4b7e-9a53-5d0b2f6c9a11")

# Journal statuses → the instance-status words the /step endpoint answers with.
STEP_STATUS = {
    "running": "running",
    "retrying": "running",
    "waiting": "waiting",
    "succeeded": "complete",
    "failed": "errored",
}
STEP_TYPE_OUT = {"do": "step", "sleep": "sleep", "waitForEvent": "waitForEvent"}


def workflow_uuid(workflow: Workflow) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"workflow:{workflow.account_id}:{workflow.pk}"))


def version_uuid(workflow: Workflow) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"version:{workflow.pk}:{workflow.class_name}"))


def _script_name(workflow: Workflow) -> str:
    return workflow.class_name.rpartition(".")[0] or workflow.class_name


def workflow_view(workflow: Workflow) -> dict[str, Any]:
    """A workflow annotated by selectors.workflow_list (counts in the same query)."""
    return {
        "id": workflow_uuid(workflow),
        "name": workflow.name,
        "class_name": workflow.class_name.rpartition(".")[2],
        "script_name": _script_name(workflow),
        "created_on": workflow.created_at,
        "modified_on": workflow.modified_at,
        "triggered_on": getattr(workflow, "triggered_on", None),
        "instances": selectors.workflow_instance_counts(workflow),
    }


def workflow_update_view(workflow: Workflow) -> dict[str, Any]:
    view = workflow_view(workflow)
    del view["instances"]
    return {**view, "is_deleted": 0, "terminator_running": 0, "version_id": version_uuid(workflow)}


def instance_summary(instance: Instance) -> dict[str, Any]:
    """What create and batch create return."""
    return {
        "id": instance.instance_id,
        "status": instance.status,
        "version_id": version_uuid(instance.workflow),
        "workflow_id": workflow_uuid(instance.workflow),
        "trigger_source": instance.trigger_source,
    }


def instance_list_item(instance: Instance) -> dict[str, Any]:
    return {
        **instance_summary(instance),
        "created_on": instance.created_at,
        "modified_on": instance.modified_at,
        "started_on": instance.started_at,
        "ended_on": instance.ended_at,
    }


def _success(record_status: str) -> bool | None:
    return {"succeeded": True, "failed": False}.get(record_status)


def step_entry(step: dict[str, Any]) -> dict[str, Any]:
    """One entry of ``steps`` from a selectors.instance_steps view."""
    name = f"{step['name']}-{step['count']}"
    finished = step["status"] in ("succeeded", "failed")
    if step["type"] == "do":
        return {
            "type": "step",
            "name": name,
            "start": step["start"],
            "end": step["end"],
            "success": _success(step["status"]),
            "output": step["output"],
            "config": step.get("config"),
            "attempts": [
                {
                    "start": a["start"],
                    "end": a["end"],
                    "success": a["success"],
                    "error": a["error"],
                }
                for a in step.get("attempts", [])
            ],
        }
    if step["type"] == "sleep":
        return {
            "type": "sleep",
            "name": name,
            "start": step["start"],
            "end": step["end"] or step.get("until"),
            "finished": finished,
            "error": step["error"],
        }
    return {
        "type": "waitForEvent",
        "name": name,
        "start": step["start"],
        "end": step["end"] or step.get("timeout_at"),
        "finished": finished,
        "error": step["error"],
        "output": step["output"],
        "event_type": step.get("event_type"),
    }


def _instance_success(status: str) -> bool | None:
    if status == InstanceStatus.COMPLETE:
        return True
    if status in TERMINAL_STATUSES:
        return False
    return None


def instance_detail(
    instance: Instance, *, order: str = "asc", with_steps: bool = True
) -> dict[str, Any]:
    """The GET instance shape (SDK ``InstanceGetResponse``)."""
    steps = [step_entry(s) for s in selectors.instance_steps(instance=instance)]
    step_count = len(steps)
    if order == "desc":
        steps.reverse()
    return {
        "status": instance.status,
        "params": instance.params,
        "queued": instance.created_at,
        "start": instance.started_at,
        "end": instance.ended_at,
        "output": instance.output,
        "error": public_error(instance.error),
        "success": _instance_success(instance.status),
        "trigger": {"source": instance.trigger_source},
        "versionId": version_uuid(instance.workflow),
        "rollback": None,
        "step_count": step_count,
        "steps": steps if with_steps else [],
    }


def step_detail(record: StepRecord, *, attempt: int | None = None) -> dict[str, Any]:
    """The /step shape: full output or error of a step (or of one of its attempts)."""
    view: dict[str, Any] = {
        "status": STEP_STATUS.get(record.status, "running"),
        "error": public_error(record.error),
        "output": record.output if record.status == "succeeded" else None,
    }
    if record.type == "waitForEvent":
        view["event_type"] = (record.detail or {}).get("type")
    if record.status == "retrying" and view["error"] is None:
        last = max(record.attempts.all(), key=lambda a: a.number, default=None)
        if last is not None and last.error_name:
            view["error"] = {"name": last.error_name, "message": last.error_message}
    if attempt is not None:
        chosen = next((a for a in record.attempts.all() if a.number == attempt), None)
        if chosen is None:
            raise selectors.StepNotFoundError(
                f"Step {record.name}-{record.count} has no attempt {attempt}"
            )
        error = (
            {"name": chosen.error_name, "message": chosen.error_message}
            if chosen.error_name
            else None
        )
        view["status"] = (
            "running" if chosen.success is None else "complete" if chosen.success else "errored"
        )
        view["error"] = error
        view["output"] = record.output if chosen.success else None
    return view
