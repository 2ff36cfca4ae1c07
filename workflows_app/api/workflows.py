"""/accounts/{account_id}/workflows[/{workflow_name}]: enable, list, describe, remove."""

from __future__ import annotations

import math
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from workflows_app import presenters, selectors, services
from workflows_app.engine import registry

from .auth import access_account, access_workflow, actor, check_workflow_name
from .envelope import ERROR_RESPONSES, Envelope, ok
from .errors import invalid_input
from .params import AccountId, PageQuery, PerPageQuery, WorkflowName
from .schemas import (
    WorkflowDeleteOut,
    WorkflowOut,
    WorkflowUpdateIn,
    WorkflowUpdateOut,
)

router = Router(tags=["workflows"])

SearchQuery = Query(None, max_length=64)


@router.get(
    "/accounts/{account_id}/workflows",
    response={200: Envelope[list[WorkflowOut]], **ERROR_RESPONSES},
    summary="List the workflows enabled for the account, with instance counts",
)
def workflow_list(
    request: HttpRequest,
    account_id: str = AccountId,
    page: int = PageQuery,
    per_page: int = PerPageQuery,
    search: str | None = SearchQuery,
) -> dict[str, Any]:
    account = access_account(request, account_id)
    workflows = selectors.workflow_list(account=account, search=search)
    total = workflows.count()
    rows = list(workflows[(page - 1) * per_page : page * per_page])
    return ok(
        [presenters.workflow_view(w) for w in rows],
        result_info={
            "page": page,
            "per_page": per_page,
            "count": len(rows),
            "total_count": total,
            "total_pages": math.ceil(total / per_page),
        },
    )


@router.get(
    "/accounts/{account_id}/workflows/{workflow_name}",
    response={200: Envelope[WorkflowOut], **ERROR_RESPONSES},
    summary="Describe a workflow",
)
def workflow_get(
    request: HttpRequest, account_id: str = AccountId, workflow_name: str = WorkflowName
) -> dict[str, Any]:
    workflow = access_workflow(request, account_id, workflow_name)
    annotated = selectors.workflow_get_with_counts(account=workflow.account, name=workflow.name)
    return ok(presenters.workflow_view(annotated))


@router.put(
    "/accounts/{account_id}/workflows/{workflow_name}",
    response={200: Envelope[WorkflowUpdateOut], **ERROR_RESPONSES},
    summary="Enable a workflow registered in code for the account (idempotent)",
)
def workflow_update(
    request: HttpRequest,
    payload: WorkflowUpdateIn,
    account_id: str = AccountId,
    workflow_name: str = WorkflowName,
) -> dict[str, Any]:
    account = access_account(request, account_id)
    name = check_workflow_name(workflow_name)
    workflow_class = registry.get(name)
    if workflow_class is not None and payload.class_name:
        accepted = {
            workflow_class.__qualname__,
            f"{workflow_class.__module__}.{workflow_class.__qualname__}",
        }
        if payload.class_name not in accepted:
            raise invalid_input(
                f"class_name {payload.class_name[:200]!r} does not match the class registered "
                f"as {name!r} ({workflow_class.__module__}.{workflow_class.__qualname__})"
            )
    workflow = services.workflow_enable(account=account, name=name)
    if payload.default_retention is not None:
        services.workflow_set_retention(
            workflow=workflow,
            retention=payload.default_retention.model_dump(exclude_none=True) or None,
        )
    annotated = selectors.workflow_get_with_counts(account=account, name=workflow.name)
    return ok(presenters.workflow_update_view(annotated))


@router.delete(
    "/accounts/{account_id}/workflows/{workflow_name}",
    response={200: Envelope[WorkflowDeleteOut], **ERROR_RESPONSES},
    summary="Remove a workflow from the account, with all its instances",
)
def workflow_delete(
    request: HttpRequest, account_id: str = AccountId, workflow_name: str = WorkflowName
) -> dict[str, Any]:
    workflow = access_workflow(request, account_id, workflow_name)
    services.workflow_delete(workflow=workflow, actor=actor(request))
    return ok({"status": "ok", "success": True})
