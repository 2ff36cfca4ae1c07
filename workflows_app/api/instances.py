"""/accounts/{account_id}/workflows/{workflow_name}/instances/...: create, read, control."""

from __future__ import annotations

import math
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Body, Path, Query, Router

from workflows_app import presenters, selectors, services
from workflows_app.engine import clock
from workflows_app.engine.context import MAX_EVENT_TYPE
from workflows_app.engine.errors import WorkflowError
from workflows_app.models import StepType, Workflow
from workflows_app.services import limits

from .auth import access_instance, access_workflow, actor
from .envelope import ERROR_RESPONSES, Envelope, ok
from .errors import ENGINE_ERRORS, RATE_LIMITED, ApiError, invalid_input
from .params import AccountId, InstanceId, PageQuery, PerPageQuery, WorkflowName
from .parsing import read_json_body
from .schemas import (
    EVENT_TYPE_PATTERN,
    BatchDeleteIn,
    BatchDeleteOut,
    EventOut,
    InstanceCreateIn,
    InstanceCreateOut,
    InstanceDeleteOut,
    InstanceGetOut,
    InstanceListItemOut,
    InstanceStatusLiteral,
    InstanceStepOut,
    StatusIn,
    StatusOut,
)


def _retention(value: Any) -> dict[str, Any] | None:
    return None if value is None else value.model_dump(exclude_none=True) or None


router = Router(tags=["instances"])

StatusQuery = Query(None)
DateQuery = Query(None, max_length=40, description="ISO 8601, UTC")
CursorQuery = Query(None, max_length=200)
DirectionQuery = Query("desc")
BatchBody = Body(...)
OrderQuery = Query("asc")
SimpleQuery = Query("false")
StepNameQuery = Query(..., min_length=3, max_length=270)
StepTypeQuery = Query(...)
AttemptQuery = Query(None, ge=1, le=100_000)
EventType = Path(..., min_length=1, max_length=MAX_EVENT_TYPE, pattern=EVENT_TYPE_PATTERN)


def _take_creation_rate(workflow: Workflow) -> None:
    exceeded = limits.instance_creation_take(account=workflow.account, workflow=workflow)
    if exceeded is not None:
        raise ApiError(
            429,
            RATE_LIMITED,
            f"{exceeded.message}; retry after {exceeded.retry_after} s",
            headers={"Retry-After": str(exceeded.retry_after)},
        )


BASE = "/accounts/{account_id}/workflows/{workflow_name}/instances"


@router.get(
    BASE,
    response={200: Envelope[list[InstanceListItemOut]], **ERROR_RESPONSES},
    summary="List instances, newest first (filters: status, date range; page or cursor)",
)
def instance_list(
    request: HttpRequest,
    account_id: str = AccountId,
    workflow_name: str = WorkflowName,
    status: InstanceStatusLiteral | None = StatusQuery,
    date_start: str | None = DateQuery,
    date_end: str | None = DateQuery,
    page: int = PageQuery,
    per_page: int = PerPageQuery,
    cursor: str | None = CursorQuery,
    direction: Literal["asc", "desc"] = DirectionQuery,
) -> dict[str, Any]:
    workflow = access_workflow(request, account_id, workflow_name)
    start = (
        selectors.parse_time_bound(date_start, what="date_start", end=False) if date_start else None
    )
    end = selectors.parse_time_bound(date_end, what="date_end", end=True) if date_end else None
    result = selectors.instance_list(
        workflow=workflow,
        status=status,
        date_start=start,
        date_end=end,
        page=page,
        per_page=per_page,
        cursor=cursor,
        direction=direction,
    )
    for instance in result.instances:
        instance.workflow = workflow  # one query for the page, none per row
    info: dict[str, Any] = {
        "per_page": result.per_page,
        "count": len(result.instances),
        "cursor": result.next_cursor,
    }
    if result.total_count is not None:
        info |= {
            "page": result.page,
            "total_count": result.total_count,
            "total_pages": math.ceil(result.total_count / result.per_page),
        }
    return ok([presenters.instance_list_item(i) for i in result.instances], result_info=info)


@router.post(
    BASE,
    response={200: Envelope[InstanceCreateOut], **ERROR_RESPONSES},
    summary="Create an instance; it starts asynchronously",
)
def instance_create(
    request: HttpRequest,
    payload: InstanceCreateIn,
    account_id: str = AccountId,
    workflow_name: str = WorkflowName,
) -> dict[str, Any]:
    workflow = access_workflow(request, account_id, workflow_name)
    _take_creation_rate(workflow)
    instance = services.instance_create(
        workflow=workflow,
        instance_id=payload.instance_id,
        params=payload.params,
        trigger_source="api",
        retention=_retention(payload.instance_retention),
    )
    return ok(presenters.instance_summary(instance))


@router.post(
    BASE + "/batch",
    response={200: Envelope[list[InstanceCreateOut]], **ERROR_RESPONSES},
    summary="Create 1-100 instances, all or nothing",
)
def instance_create_batch(
    request: HttpRequest,
    items: list[InstanceCreateIn] = BatchBody,
    account_id: str = AccountId,
    workflow_name: str = WorkflowName,
) -> dict[str, Any]:
    workflow = access_workflow(request, account_id, workflow_name)
    _take_creation_rate(workflow)
    created = services.instance_create_batch(
        workflow=workflow,
        items=[
            {
                "id": item.instance_id,
                "params": item.params,
                "retention": _retention(item.instance_retention),
            }
            for item in items
        ],
        trigger_source="api",
    )
    return ok([presenters.instance_summary(i) for i in created])


@router.post(
    BASE + "/batch/delete",
    response={200: Envelope[BatchDeleteOut], **ERROR_RESPONSES},
    summary="Delete up to 100 instances; unknown ids are reported per item",
)
def instance_delete_batch(
    request: HttpRequest,
    payload: BatchDeleteIn,
    account_id: str = AccountId,
    workflow_name: str = WorkflowName,
) -> dict[str, Any]:
    workflow = access_workflow(request, account_id, workflow_name)
    for instance_id in payload.instances:  # validate every id before deleting any
        services.validate_instance_id(instance_id)
    deleted, errors = [], []
    for instance_id in dict.fromkeys(payload.instances):
        try:
            instance = selectors.instance_get(workflow=workflow, instance_id=instance_id)
            services.instance_delete(instance=instance, actor=actor(request))
        except WorkflowError as exc:
            code = ENGINE_ERRORS.get(exc.code, (400, 10001))[1]
            errors.append({"id": instance_id, "code": code, "message": str(exc)})
        else:
            deleted.append({"id": instance_id})
    return ok({"deleted": deleted, "errors": errors})


@router.get(
    BASE + "/{instance_id}",
    response={200: Envelope[InstanceGetOut], **ERROR_RESPONSES},
    summary="Describe an instance with its steps and attempts",
)
def instance_get(
    request: HttpRequest,
    account_id: str = AccountId,
    workflow_name: str = WorkflowName,
    instance_id: str = InstanceId,
    order: Literal["asc", "desc"] = OrderQuery,
    simple: Literal["true", "false"] = SimpleQuery,
) -> dict[str, Any]:
    instance = access_instance(request, account_id, workflow_name, instance_id)
    view = presenters.instance_view(instance)
    return ok(presenters.instance_detail(view, order=order, with_steps=simple != "true"))


def _split_step_name(name: str) -> tuple[str, int]:
    base, dash, count = name.rpartition("-")
    if not dash or not base or not count.isdigit() or int(count) < 1:
        raise invalid_input(
            f"Step name {name[:80]!r} must end with its counter, e.g. 'charge-card-1'"
        )
    return base, int(count)


@router.get(
    BASE + "/{instance_id}/step",
    response={200: Envelope[InstanceStepOut], **ERROR_RESPONSES},
    summary="The full output or error of one step (optionally of one attempt)",
)
def instance_step(
    request: HttpRequest,
    name: str = StepNameQuery,
    type: Literal["step", "waitForEvent"] = StepTypeQuery,
    attempt: int | None = AttemptQuery,
    account_id: str = AccountId,
    workflow_name: str = WorkflowName,
    instance_id: str = InstanceId,
) -> dict[str, Any]:
    instance = access_instance(request, account_id, workflow_name, instance_id)
    base, count = _split_step_name(name)
    step_type = StepType.DO if type == "step" else StepType.WAIT_FOR_EVENT
    record = selectors.step_record_get(
        instance=instance, step_type=step_type, name=base, count=count
    )
    return ok(presenters.step_detail(presenters.StepView.of(record), attempt=attempt))


@router.patch(
    BASE + "/{instance_id}/status",
    response={200: Envelope[StatusOut], **ERROR_RESPONSES},
    summary="Pause, resume, terminate or restart (optionally from a step)",
)
def instance_status_edit(
    request: HttpRequest,
    payload: StatusIn,
    account_id: str = AccountId,
    workflow_name: str = WorkflowName,
    instance_id: str = InstanceId,
) -> dict[str, Any]:
    instance = access_instance(request, account_id, workflow_name, instance_id)
    if payload.status != "terminate" and payload.rollback is not None:
        raise invalid_input('"rollback" only goes with status "terminate"')
    if payload.status != "restart" and payload.from_ is not None:
        raise invalid_input('"from" only goes with status "restart"')
    if payload.rollback:
        raise invalid_input("Terminating with rollback is not supported")
    instance = services.instance_set_status(
        instance=instance,
        action=payload.status,
        from_step=None
        if payload.from_ is None
        else services.RestartPoint.from_mapping(payload.from_.model_dump(exclude_none=True)),
        actor=actor(request),
    )
    return ok({"status": instance.status, "timestamp": clock.now()})


@router.post(
    BASE + "/{instance_id}/events/{event_type}",
    response={200: Envelope[EventOut], **ERROR_RESPONSES},
    summary="Send an event; the body (any JSON) is its payload",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": {"description": "Any JSON value"}}},
        }
    },
)
def instance_event_send(
    request: HttpRequest,
    account_id: str = AccountId,
    workflow_name: str = WorkflowName,
    instance_id: str = InstanceId,
    event_type: str = EventType,
) -> dict[str, Any]:
    instance = access_instance(request, account_id, workflow_name, instance_id)
    payload = read_json_body(request)
    services.event_send(
        instance=instance, event_type=event_type, payload=payload, actor=actor(request)
    )
    return ok({"instanceId": instance.instance_id, "timestamp": clock.now()})


@router.delete(
    BASE + "/{instance_id}",
    response={200: Envelope[InstanceDeleteOut], **ERROR_RESPONSES},
    summary="Delete an instance and all its state",
)
def instance_delete(
    request: HttpRequest,
    account_id: str = AccountId,
    workflow_name: str = WorkflowName,
    instance_id: str = InstanceId,
) -> dict[str, Any]:
    instance = access_instance(request, account_id, workflow_name, instance_id)
    services.instance_delete(instance=instance, actor=actor(request))
    return ok({"id": instance_id})
