"""Workflows with their instance counts."""

from __future__ import annotations

from django.db.models import Count, Max, Q, QuerySet

from workflows_app.engine.errors import (
    WorkflowNotFoundError,
)
from workflows_app.models import (
    Account,
    InstanceStatus,
    Workflow,
)


def workflow_get(*, account: Account, name: str) -> Workflow:
    try:
        return Workflow.objects.get(account=account, name=name)
    except Workflow.DoesNotExist:
        raise WorkflowNotFoundError(f"Workflow {name!r} not found") from None


def workflow_list(
    *, account: Account, search: str | None = None, name: str | None = None
) -> QuerySet[Workflow]:
    """Enabled workflows annotated with per-status counts and the last trigger time.

    One query: every count is a filtered aggregate over the same join.
    """
    counts = {
        f"count_{status.value}": Count("instances", filter=Q(instances__status=status.value))
        for status in InstanceStatus
    }
    workflows = Workflow.objects.filter(account=account)
    if search:
        workflows = workflows.filter(name__icontains=search)
    if name is not None:
        workflows = workflows.filter(name=name)
    return workflows.annotate(triggered_on=Max("instances__created_at"), **counts).order_by("name")


def workflow_instance_counts(workflow: Workflow) -> dict[str, int]:
    """The counts annotated by workflow_list, by status value."""
    return {
        status.value: getattr(workflow, f"count_{status.value}", 0) for status in InstanceStatus
    }


def workflow_get_with_counts(*, account: Account, name: str) -> Workflow:
    workflow = workflow_list(account=account, name=name).first()
    if workflow is None:
        raise WorkflowNotFoundError(f"Workflow {name!r} not found")
    return workflow
