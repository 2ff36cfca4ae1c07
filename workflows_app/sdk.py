"""The public face of Workflows for Django: the only module workflow authors import.

from workflows_app.sdk import (
    WorkflowEntrypoint, WorkflowEvent, WorkflowStep,
    NonRetryableError, WorkflowTimeoutError, get_workflow,
)

Everything a workflow's code or its caller can meet is here: the base class and
the step API, every error the engine raises to user code, and the binding that
creates and controls instances. Names not listed in ``__all__`` are internal and
may change. The test kit is the separate face ``workflows_app.testing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workflows_app import presenters, selectors, services
from workflows_app.engine.context import WorkflowStep
from workflows_app.engine.entrypoint import WorkflowEntrypoint, WorkflowEvent
from workflows_app.engine.errors import (
    CpuLimitExceededError,
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidInputError,
    InvalidStepError,
    InvalidTransitionError,
    NondeterminismError,
    NonRetryableError,
    PayloadTooLargeError,
    QuotaExceededError,
    StepError,
    StepLimitExceededError,
    StepOutputError,
    WorkflowError,
    WorkflowNotFoundError,
    WorkflowTimeoutError,
)
from workflows_app.models import Account, Instance, Workflow

__all__ = [
    "CpuLimitExceededError",
    "InstanceAlreadyExistsError",
    "InstanceNotFoundError",
    "InvalidInputError",
    "InvalidStepError",
    "InvalidTransitionError",
    "NonRetryableError",
    "NondeterminismError",
    "PayloadTooLargeError",
    "QuotaExceededError",
    "StepError",
    "StepLimitExceededError",
    "StepOutputError",
    "WorkflowBinding",
    "WorkflowEntrypoint",
    "WorkflowError",
    "WorkflowEvent",
    "WorkflowInstance",
    "WorkflowNotFoundError",
    "WorkflowStep",
    "WorkflowTimeoutError",
    "get_workflow",
]


class WorkflowInstance:
    """A handle on one instance, like Cloudflare's ``WorkflowInstance``."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self.id: str = instance.instance_id

    def __repr__(self) -> str:
        return f"<WorkflowInstance {self._instance.workflow.name}/{self.id}>"

    def status(self) -> dict[str, Any]:
        """``{"status", "error", "output", "steps"}``; error is ``{"name", "message"}`` or None."""
        return presenters.instance_status(presenters.instance_view(self._instance, fresh=True))

    def pause(self) -> None:
        """Pause at the next step boundary (at once if sleeping or waiting)."""
        services.instance_pause(instance=self._instance)

    def resume(self) -> None:
        """Resume a paused instance; its timers are shifted by the time spent paused."""
        services.instance_resume(instance=self._instance)

    def terminate(self) -> None:
        """End the instance for good (an error if it already ended)."""
        services.instance_terminate(instance=self._instance)

    def restart(self, from_step: str | dict[str, Any] | None = None) -> None:
        """Run again with the same params; ``from_step`` (a name, or ``{"name", "count",
        "type"}``) keeps the steps before it cached."""
        if isinstance(from_step, str):
            from_step = {"name": from_step}
        services.instance_restart(instance=self._instance, from_step=from_step)

    def send_event(self, *, type: str, payload: Any = None) -> None:
        """Send an event; a ``wait_for_event`` of that type receives it (buffered if early)."""
        services.event_send(instance=self._instance, event_type=type, payload=payload)

    def delete(self) -> None:
        """Delete the instance and all its state."""
        services.instance_delete(instance=self._instance)


class WorkflowBinding:
    """Creates and finds instances of one workflow in one account."""

    def __init__(self, workflow: Workflow) -> None:
        self._workflow = workflow
        self.name: str = workflow.name

    def create(
        self, id: str | None = None, params: Any = None, *, retention: dict | None = None
    ) -> WorkflowInstance:
        """Create an instance (``id`` defaults to a UUID); it starts asynchronously.

        ``retention``: ``{"success_retention", "error_retention"}`` (ms or "N unit(s)"),
        how long its state is kept once finished, up to the plan's maximum.
        """
        return WorkflowInstance(
            services.instance_create(
                workflow=self._workflow,
                instance_id=id,
                params=params,
                trigger_source="binding",
                retention=retention,
            )
        )

    def create_batch(self, batch: Sequence[dict[str, Any]]) -> list[WorkflowInstance]:
        """Create 1-100 instances from ``[{"id"?, "params"?}, ...]``, all or nothing."""
        created = services.instance_create_batch(
            workflow=self._workflow, items=batch, trigger_source="binding"
        )
        return [WorkflowInstance(i) for i in created]

    def get(self, id: str) -> WorkflowInstance:
        """The instance with this id; InstanceNotFoundError if there is none."""
        return WorkflowInstance(selectors.instance_get(workflow=self._workflow, instance_id=id))


def get_workflow(name: str, *, account: Account | str) -> WorkflowBinding:
    """The binding of workflow ``name`` for ``account`` (an Account or its 32-hex id).

    Enables the workflow in the account on first use; WorkflowNotFoundError if no
    workflow of that name is registered or the account does not exist.
    """
    if not isinstance(account, Account):
        found = selectors.account_get(account_id=account)
        if found is None:
            raise WorkflowNotFoundError(f"Account {account!r} not found")
        account = found
    return WorkflowBinding(services.workflow_enable(account=account, name=name))
