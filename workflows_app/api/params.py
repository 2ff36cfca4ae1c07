"""Path and query parameters shared by the routers, validated before any handler runs."""

from ninja import Path, Query

from workflows_app.engine.registry import MAX_WORKFLOW_NAME
from workflows_app.models import ACCOUNT_ID_PATTERN
from workflows_app.services.common import INSTANCE_ID_PATTERN, MAX_INSTANCE_ID

from .schemas import WORKFLOW_NAME_PATTERN

AccountId = Path(..., pattern=ACCOUNT_ID_PATTERN, description="32-hex account id")
WorkflowName = Path(..., min_length=1, max_length=MAX_WORKFLOW_NAME, pattern=WORKFLOW_NAME_PATTERN)
InstanceId = Path(..., min_length=1, max_length=MAX_INSTANCE_ID, pattern=INSTANCE_ID_PATTERN)
PageQuery = Query(1, ge=1, le=1_000_000)
PerPageQuery = Query(50, ge=1, le=100)
