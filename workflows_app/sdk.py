"""The public face of Workflows for Django: what workflow authors import.

from workflows_app.sdk import (
    WorkflowEntrypoint, WorkflowEvent, WorkflowStep,
    NonRetryableError, WorkflowTimeoutError, get_workflow,
)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workflows_app.engine.context import WorkflowStep
from workflows_app.engine.entrypoint import WorkflowEntrypoint, WorkflowEvent
from workflows_app.engine.errors import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidInputError,
    InvalidStepError,
    InvalidTransitionError,
    NondeterminismError,
    NonRetryableError,
    PayloadTooLargeError,
    StepError,
    StepLimitExceededError,
    StepOutputError,
    WorkflowError,
    WorkflowNotFoundError,
    WorkflowTimeoutError,
)

__all__ = [
    "InstanceAlreadyExistsError",
    "InstanceNotFoundError",
    "InvalidInputError",
    "InvalidStepError",
    "InvalidTransitionError",
    "NonRetryableError",
    "NondeterminismError",
    "PayloadTooLargeError",
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

    def __init__(self, instance: Any) -> None:
        self._instance = instance
        self.id: str = instance.instance_id

    def __repr__(self) -> str:
        return f"<WorkflowInstance {self._instance.workflow.name}/{self.id}>"

    def status(self) -> dict[str, Any]:
        """``{"status", "error", "output", "steps"}``; error is ``{"name", "message"}`` or None."""
        from workflows_app import selectors

        return selectors.instance_status(instance=self._instance)

    def pause(self) -> None:
        """Pause at the next step boundary (at once if sleeping or waiting)."""
        from workflows_app import services

        services.instance_pause(instance=self._instance)

    def resume(self) -> None:
        """Resume a paused instance; its timers are shifted by the time spent paused."""
        from workflows_app import services

        services.instance_resume(instance=self._instance)

    def terminate(self) -> None:
        """End the instance for good (an error if it already ended)."""
        from workflows_app import services

        services.instance_terminate(instance=self._instance)

    def restart(self, from_step: str | dict[str, Any] | None = None) -> None:
        """Run again with the same params; ``from_step`` (a name, or ``{"name", "count",
        "type"}``) keeps the steps before it cached."""
        from workflows_app import services

        if isinstance(from_step, str):
            from_step = {"name": from_step}
        services.instance_restart(instance=self._instance, from_step=from_step)

    def send_event(self, *, type: str, payload: Any = None) -> None:
        """Send an event; a ``wait_for_event`` of that type receives it (buffered if early)."""
        from workflows_app import services

        services.event_send(instance=self._instance, event_type=type, payload=payload)

    def delete(self) -> None:
        """Delete the instance and all its state."""
        from workflows_app import services

        services.instance_delete(instance=self._instance)


class WorkflowBinding:
    """Creates and finds instances of one workflow in one account."""

    def __init__(self, workflow: Any) -> None:
        self._workflow = workflow
        self.name: str = workflow.name

    def create(
        self, id: str | None = None, params: Any = None, *, retention: dict | None = None
    ) -> WorkflowInstance:
        """Create an instance (``id`` defaults to a UUID); it starts asynchronously.

        ``retention``: ``{"success_retention", "error_retention"}`` (ms or "N unit(s)"),
        how long its state is kept once finished, up to the plan's maximum.
        """
        from workflows_app import services

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
        from workflows_app import services

        created = services.instance_create_batch(
            workflow=self._workflow, items=batch, trigger_source="binding"
        )
        return [WorkflowInstance(i) for i in created]

    def get(self, id: str) -> WorkflowInstance:
        """The instance with this id; InstanceNotFoundError if there is none."""
        from workflows_app import selectors

        return WorkflowInstance(selectors.instance_get(workflow=self._workflow, instance_id=id))


def get_workflow(name: str, *, account: Any) -> WorkflowBinding:
    """The binding of workflow ``name`` for ``account`` (an Account or its 32-hex id)."""
    from workflows_app import services
    from workflows_app.models import Account

    if not isinstance(account, Account):
        try:
            account = Account.objects.get(pk=account)
        except Account.DoesNotExist:
            raise WorkflowNotFoundError(f"Account {account!r} not found") from None
    return WorkflowBinding(services.workflow_enable(account=account, name=name))
