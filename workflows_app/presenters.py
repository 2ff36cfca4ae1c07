"""Rows → one typed read model of an instance and its steps → the JSON shapes clients see.

``InstanceView``, ``StepView`` and ``AttemptView`` are what a reader is shown
of an instance, built once from its rows; the REST API, the CLI (``--json``
and its tables), the binding's ``status()`` and the console's journal all
read them. The functions below them produce Cloudflare's shapes.

Cloudflare has versions and script names; here a workflow is code registered in
the app, so ``version_id`` and ``workflow_id`` are stable UUIDs derived from
the row, and ``script_name`` is the Python module holding the class.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from workflows_app import selectors
from workflows_app.engine.errors import StepNotFoundError
from workflows_app.engine.serialization import public_error
from workflows_app.models import (
    TERMINAL_STATUSES,
    Instance,
    InstanceStatus,
    StepAttempt,
    StepRecord,
    StepStatus,
    StepType,
    Workflow,
)

_NAMESPACE = uuid.UUID("6f1d7f0e-4d8e-4b7e-9a53-5d0b2f6c9a11")

# Journal statuses → the instance-status words the /step endpoint answers with.
STEP_STATUS = {
    "running": "running",
    "retrying": "running",
    "waiting": "waiting",
    "succeeded": "complete",
    "failed": "errored",
}
# Journal step types → Cloudflare's words for them.
STEP_TYPE_OUT = {"do": "step", "sleep": "sleep", "waitForEvent": "waitForEvent"}
_FINISHED = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED})


# --- the read model ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class ErrorView:
    name: str
    message: str

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> ErrorView | None:
        """From a stored error (an instance's or a step's); None if there is none."""
        shown = public_error(data)
        return None if shown is None else cls(name=shown["name"], message=shown["message"])

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "message": self.message}


def _json(error: ErrorView | None) -> dict[str, str] | None:
    return None if error is None else error.as_json()


@dataclasses.dataclass(frozen=True, kw_only=True)
class AttemptView:
    number: int
    start: dt.datetime
    end: dt.datetime | None
    success: bool | None  # None while running (or lost with its worker)
    error: ErrorView | None
    timed_out: bool
    cpu_ms: float
    wall_ms: float

    @classmethod
    def of(cls, attempt: StepAttempt) -> AttemptView:
        return cls(
            number=attempt.number,
            start=attempt.started_at,
            end=attempt.ended_at,
            success=attempt.success,
            error=(
                ErrorView(name=attempt.error_name, message=attempt.error_message)
                if attempt.error_name
                else None
            ),
            timed_out=attempt.timed_out,
            cpu_ms=attempt.cpu_ms,
            wall_ms=attempt.wall_ms,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepView:
    """One journal entry as a reader sees it; ``wake_at`` means what the step type says."""

    type: str  # a StepType value
    name: str
    count: int
    status: str  # a StepStatus value
    start: dt.datetime | None
    end: dt.datetime | None
    output: Any
    error: ErrorView | None
    config: dict[str, Any] | None  # a step.do's
    wake_at: dt.datetime | None  # a step.do's next attempt, a sleep's end, a wait's timeout
    event_type: str | None  # a wait_for_event's
    attempts: tuple[AttemptView, ...]  # a step.do's, in the journal's order

    @classmethod
    def of(cls, record: StepRecord) -> StepView:
        """From a journal row; its attempts are read through ``record.attempts.all()``."""
        is_do = record.type == StepType.DO
        is_wait = record.type == StepType.WAIT_FOR_EVENT
        return cls(
            type=record.type,
            name=record.name,
            count=record.count,
            status=record.status,
            start=record.started_at,
            end=record.ended_at,
            output=record.output,
            error=ErrorView.of(record.error),
            config=record.config if is_do else None,
            wake_at=record.wake_at,
            event_type=(record.detail or {}).get("type") if is_wait else None,
            attempts=tuple(AttemptView.of(a) for a in record.attempts.all()) if is_do else (),
        )

    @property
    def key(self) -> str:
        """Cloudflare's step name: the name and its counter, e.g. ``charge-card-1``."""
        return f"{self.name}-{self.count}"

    @property
    def label(self) -> str:
        return STEP_TYPE_OUT.get(self.type, self.type)

    @property
    def finished(self) -> bool:
        return self.status in _FINISHED

    @property
    def success(self) -> bool | None:
        if self.status == StepStatus.SUCCEEDED:
            return True
        return False if self.status == StepStatus.FAILED else None

    @property
    def until(self) -> dt.datetime | None:
        """When a sleep ends."""
        return self.wake_at if self.type == StepType.SLEEP else None

    @property
    def timeout_at(self) -> dt.datetime | None:
        """When a wait for an event times out."""
        return self.wake_at if self.type == StepType.WAIT_FOR_EVENT else None

    @property
    def shown_end(self) -> dt.datetime | None:
        """The end, or for a sleep or wait not over yet, when it is due to end."""
        return self.end if self.type == StepType.DO else self.end or self.wake_at

    @property
    def state(self) -> str:
        """One word for a table: succeeded/failed/running, or finished/failed/waiting."""
        if self.type == StepType.DO:
            if self.success is None:
                return "running"
            return "succeeded" if self.success else "failed"
        if self.error:
            return "failed"
        return "finished" if self.finished else "waiting"

    @property
    def cpu_ms(self) -> float:
        """A step.do's CPU time: the sum over its attempts."""
        return sum(a.cpu_ms or 0 for a in self.attempts)


@dataclasses.dataclass(frozen=True, kw_only=True)
class InstanceView:
    instance_id: str
    workflow_name: str
    status: str  # an InstanceStatus value
    params: Any
    output: Any
    error: ErrorView | None
    trigger_source: str
    queued: dt.datetime
    start: dt.datetime | None
    end: dt.datetime | None
    version_id: str
    steps: tuple[StepView, ...]  # in the order they were reached

    @classmethod
    def of(cls, instance: Instance, records: list[StepRecord]) -> InstanceView:
        return cls(
            instance_id=instance.instance_id,
            workflow_name=instance.workflow.name,
            status=instance.status,
            params=instance.params,
            output=instance.output,
            error=ErrorView.of(instance.error),
            trigger_source=instance.trigger_source,
            queued=instance.created_at,
            start=instance.started_at,
            end=instance.ended_at,
            version_id=version_uuid(instance.workflow),
            steps=tuple(StepView.of(r) for r in records),
        )

    @property
    def success(self) -> bool | None:
        if self.status == InstanceStatus.COMPLETE:
            return True
        if self.status in TERMINAL_STATUSES:
            return False
        return None


def instance_view(instance: Instance, *, fresh: bool = False) -> InstanceView:
    """The instance with its whole journal (2 queries; 3 with ``fresh``, which re-reads it)."""
    if fresh:
        instance = selectors.instance_reload(instance=instance)
    return InstanceView.of(instance, selectors.instance_step_records(instance=instance))


# --- workflows --------------------------------------------------------------------


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


# --- instances --------------------------------------------------------------------


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


def step_entry(step: StepView) -> dict[str, Any]:
    """One entry of the GET instance's ``steps`` (a step, sleep or waitForEvent)."""
    if step.type == StepType.DO:
        return {
            "type": "step",
            "name": step.key,
            "start": step.start,
            "end": step.end,
            "success": step.success,
            "output": step.output,
            "config": step.config,
            "attempts": [
                {"start": a.start, "end": a.end, "success": a.success, "error": _json(a.error)}
                for a in step.attempts
            ],
        }
    if step.type == StepType.SLEEP:
        return {
            "type": "sleep",
            "name": step.key,
            "start": step.start,
            "end": step.shown_end,
            "finished": step.finished,
            "error": _json(step.error),
        }
    return {
        "type": "waitForEvent",
        "name": step.key,
        "start": step.start,
        "end": step.shown_end,
        "finished": step.finished,
        "error": _json(step.error),
        "output": step.output,
        "event_type": step.event_type,
    }


def instance_detail(
    view: InstanceView, *, order: str = "asc", with_steps: bool = True
) -> dict[str, Any]:
    """The GET instance shape (SDK ``InstanceGetResponse``)."""
    steps = [step_entry(s) for s in view.steps]
    if order == "desc":
        steps.reverse()
    return {
        "status": view.status,
        "params": view.params,
        "queued": view.queued,
        "start": view.start,
        "end": view.end,
        "output": view.output,
        "error": _json(view.error),
        "success": view.success,
        "trigger": {"source": view.trigger_source},
        "versionId": view.version_id,
        "rollback": None,
        "step_count": len(view.steps),
        "steps": steps if with_steps else [],
    }


def step_detail(step: StepView, *, attempt: int | None = None) -> dict[str, Any]:
    """The /step shape: full output or error of a step (or of one of its attempts)."""
    error = step.error
    if step.status == StepStatus.RETRYING and error is None:
        last = max(step.attempts, key=lambda a: a.number, default=None)
        if last is not None:
            error = last.error
    status = STEP_STATUS.get(step.status, "running")
    output = step.output if step.status == StepStatus.SUCCEEDED else None
    if attempt is not None:
        chosen = next((a for a in step.attempts if a.number == attempt), None)
        if chosen is None:
            raise StepNotFoundError(f"Step {step.key} has no attempt {attempt}")
        status = (
            "running" if chosen.success is None else "complete" if chosen.success else "errored"
        )
        error = chosen.error
        output = step.output if chosen.success else None
    view: dict[str, Any] = {"status": status, "error": _json(error), "output": output}
    if step.type == StepType.WAIT_FOR_EVENT:
        view["event_type"] = step.event_type
    return view


# --- the binding ------------------------------------------------------------------


def _attempt_status(attempt: AttemptView) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "start": attempt.start,
        "end": attempt.end,
        "success": attempt.success,
        "error": _json(attempt.error),
        "timed_out": attempt.timed_out,
        "cpu_ms": attempt.cpu_ms,
        "wall_ms": attempt.wall_ms,
    }


def step_status(step: StepView) -> dict[str, Any]:
    """One entry of the binding's ``status()["steps"]``: the journal's own words."""
    shown: dict[str, Any] = {
        "type": step.type,
        "name": step.name,
        "count": step.count,
        "status": step.status,
        "start": step.start,
        "end": step.end,
        "output": step.output,
        "error": _json(step.error),
    }
    if step.type == StepType.DO:
        shown["config"] = step.config
        shown["next_attempt_at"] = step.wake_at
        shown["attempts"] = [_attempt_status(a) for a in step.attempts]
    elif step.type == StepType.SLEEP:
        shown["until"] = step.until
    else:
        shown["event_type"] = step.event_type
        shown["timeout_at"] = step.timeout_at
    return shown


def instance_status(view: InstanceView) -> dict[str, Any]:
    """``{"status", "error", "output", "steps"}``, as the binding's ``status()`` returns it."""
    return {
        "status": view.status,
        "error": _json(view.error),
        "output": view.output,
        "steps": [step_status(s) for s in view.steps],
    }
