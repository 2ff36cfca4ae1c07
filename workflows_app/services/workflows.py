"""Writes to workflows: enable one for an account, its retention, remove it."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from workflows_app.billing import plans
from workflows_app.billing.retention import parse_retention
from workflows_app.engine import registry
from workflows_app.engine.errors import (
    WorkflowNotFoundError,
)
from workflows_app.models import (
    Account,
    AuditEntry,
    Workflow,
)


def workflow_enable(*, account: Account, name: str) -> Workflow:
    """Enable a workflow registered in code for ``account`` (idempotent)."""
    workflow_class = registry.get(name)
    if workflow_class is None:
        raise WorkflowNotFoundError(f"No workflow named {name!r} is registered")
    workflow, _ = Workflow.objects.get_or_create(
        account=account,
        name=name,
        defaults={"class_name": f"{workflow_class.__module__}.{workflow_class.__qualname__}"},
    )
    return workflow


def workflow_set_retention(*, workflow: Workflow, retention: dict[str, Any] | None) -> Workflow:
    """Default retention of the workflow's instances (``None``: the plan's)."""
    workflow.default_retention = parse_retention(retention, plan=plans.plan_of(workflow.account))
    workflow.save(update_fields=["default_retention", "modified_at"])
    return workflow


def workflow_delete(*, workflow: Workflow, actor: str | None = None) -> None:
    """Remove a workflow from its account, with every instance and their state.

    The registered code is untouched: enabling it again starts from nothing.
    """
    with transaction.atomic():
        if actor is not None:
            AuditEntry.objects.create(
                account_id=workflow.account_id,
                actor=actor,
                action="workflow_delete",
                workflow_name=workflow.name,
            )
        workflow.delete()
