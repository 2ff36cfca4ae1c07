"""Request (``XIn``) and response (``XOut``) schemas, named and shaped as Cloudflare's.

Field names follow the official SDK's types (cloudflare.types.workflows),
including its camelCase oddities (``versionId``, ``instanceId``). Every input
schema forbids unknown fields, so a typo is a 400 instead of being ignored.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StrictInt, StrictStr

from workflows_app.engine.context import EVENT_TYPE_RE
from workflows_app.engine.registry import WORKFLOW_NAME_RE
from workflows_app.models import API_INSTANCE_STATUSES
from workflows_app.services.common import INSTANCE_ID_PATTERN, MAX_INSTANCE_ID
from workflows_app.services.lifecycle import LifecycleAction

# Each pattern and limit has one home beside the code that enforces it; the
# schemas publish them (OpenAPI) and validate with them.
WORKFLOW_NAME_PATTERN = WORKFLOW_NAME_RE.pattern
EVENT_TYPE_PATTERN = EVENT_TYPE_RE.pattern

if TYPE_CHECKING:
    InstanceStatusLiteral = str
else:  # built from models.InstanceStatus, which a type checker cannot follow
    InstanceStatusLiteral = Literal[API_INSTANCE_STATUSES]
TriggerSource = Literal["unknown", "api", "binding", "event", "cron"]
LocationHint = Literal[
    "wnam", "weur", "enam", "eeur", "apac", "apac-ne", "apac-se", "oc", "sam", "afr", "me"
]


class StrictIn(Schema):
    model_config = ConfigDict(extra="forbid")


# --- inputs -----------------------------------------------------------------------


class RetentionIn(StrictIn):
    """How long a finished instance keeps its state: ms or "N unit(s)", up to the plan's maximum."""

    # Strict: ``true`` is not 1 ms, nor ``1.5`` an int (pydantic would coerce both).
    error_retention: StrictInt | StrictStr | None = None
    success_retention: StrictInt | StrictStr | None = None


class InstanceCreateIn(StrictIn):
    instance_id: str | None = Field(
        None, min_length=1, max_length=MAX_INSTANCE_ID, pattern=INSTANCE_ID_PATTERN
    )
    # Any JSON value, stored as sent (the SDK types it as a JSON-encoded string;
    # a string is stored as that string, an object as that object).
    params: Any = None
    instance_retention: RetentionIn | None = None
    location_hint: LocationHint | None = None


class WorkflowUpdateIn(StrictIn):
    """Enables a workflow registered in code; the deployment fields are accepted as-is."""

    class_name: str | None = Field(None, max_length=200)
    script_name: str | None = Field(None, max_length=200)
    concurrency: dict[str, Any] | None = None
    default_retention: RetentionIn | None = None
    limits: dict[str, Any] | None = None
    schedules: list[dict[str, Any]] | None = None


class RestartFromIn(StrictIn):
    name: str = Field(..., min_length=1, max_length=256)
    count: int | None = Field(None, ge=1, le=1_000_000)
    type: Literal["do", "sleep", "waitForEvent"] | None = None


class StatusIn(StrictIn):
    status: LifecycleAction
    rollback: bool | None = None
    from_: RestartFromIn | None = Field(None, alias="from")


class BatchDeleteIn(StrictIn):
    instances: list[str] = Field(..., min_length=1, max_length=100)


# --- outputs ----------------------------------------------------------------------


class ErrorOut(Schema):
    name: str
    message: str


class TriggerOut(Schema):
    source: str


class WorkflowOut(Schema):
    id: str
    name: str
    class_name: str
    script_name: str
    created_on: dt.datetime
    modified_on: dt.datetime
    triggered_on: dt.datetime | None
    instances: dict[str, int]


class WorkflowUpdateOut(Schema):
    id: str
    name: str
    class_name: str
    script_name: str
    created_on: dt.datetime
    modified_on: dt.datetime
    is_deleted: int
    terminator_running: int
    triggered_on: dt.datetime | None
    version_id: str


class WorkflowDeleteOut(Schema):
    status: Literal["ok"]
    success: bool


class InstanceCreateOut(Schema):
    id: str
    status: InstanceStatusLiteral
    version_id: str
    workflow_id: str
    trigger_source: TriggerSource


class InstanceListItemOut(InstanceCreateOut):
    created_on: dt.datetime
    modified_on: dt.datetime
    started_on: dt.datetime | None
    ended_on: dt.datetime | None


class InstanceGetOut(Schema):
    status: InstanceStatusLiteral
    params: Any
    queued: dt.datetime
    start: dt.datetime | None
    end: dt.datetime | None
    output: Any
    error: ErrorOut | None
    success: bool | None
    trigger: TriggerOut
    versionId: str  # the SDK's alias
    rollback: None = None
    step_count: int
    # step, sleep and waitForEvent entries: see workflows_app.presenters.step_entry
    steps: list[dict[str, Any]]


class InstanceStepOut(Schema):
    status: InstanceStatusLiteral
    error: ErrorOut | None
    output: Any = None
    event_type: str | None = None


class StatusOut(Schema):
    status: InstanceStatusLiteral
    timestamp: dt.datetime


class EventOut(Schema):
    instanceId: str  # the SDK's alias
    timestamp: dt.datetime


class InstanceDeleteOut(Schema):
    id: str


class BatchDeleteErrorOut(Schema):
    id: str
    code: int
    message: str


class BatchDeleteOut(Schema):
    deleted: list[InstanceDeleteOut]
    errors: list[BatchDeleteErrorOut]


# --- usage (not Cloudflare's: money and fractional quantities are decimal strings) ---


class UsageDayOut(Schema):
    day: str
    invocations: int
    attempts: int
    cpu_ms: str
    wall_ms: str
    stored_bytes: int


class UsageWorkflowOut(Schema):
    workflow: str
    invocations: int
    cpu_ms: str
    wall_ms: str
    stored_bytes_delta: int


class MeterLineOut(Schema):
    meter: str
    unit: str
    usage: str
    included: str
    overage: str
    unit_price: str
    cost: str


class StatementOut(Schema):
    plan: str
    lines: list[MeterLineOut]
    total: str
    days_elapsed: int
    projected_lines: list[MeterLineOut]
    projected_total: str


class UsageOut(Schema):
    period: str
    start: str
    end: str
    days: list[UsageDayOut]
    workflows: list[UsageWorkflowOut]
    statement: StatementOut
