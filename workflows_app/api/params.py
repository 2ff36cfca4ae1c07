"""Path and query parameters shared by the routers, validated before any handler runs."""

from ninja import Path, Query

from .schemas import ACCOUNT_ID_PATTERN, INSTANCE_ID_PATTERN, WORKFLOW_NAME_PATTERN

AccountId = Path(..., pattern=ACCOUNT_ID_PATTERN, description="32-hex account id")
WorkflowName = Path(..., min_length=1, max_length=64, pattern=WORKFLOW_NAME_PATTERN)
InstanceId = Path(..., min_length=1, max_length=100, pattern=INSTANCE_ID_PATTERN)
PageQuery = Query(1, ge=1, le=1_000_000)
PerPageQuery = Query(50, ge=1, le=100)
