"""Writes: every change made by a user, an API client or code.

Each service is atomic, checks the instance's state under a row lock, audits
actions taken by a named actor, and rings the dispatcher only after commit.
The REST API, the console, the CLI and the Python binding all call these.
One module per sub-domain; this package re-exports them so call sites say
``services.instance_create``.
"""

from workflows_app.engine.errors import AlreadyDecidedError
from workflows_app.services.common import (
    MAX_BATCH,
    MAX_INSTANCE_ID,
    RESERVED_INSTANCE_IDS,
    validate_instance_id,
    validate_json_value,
)
from workflows_app.services.events import approval_decide, event_send
from workflows_app.services.instances import (
    instance_create,
    instance_create_batch,
    instance_delete,
)
from workflows_app.services.lifecycle import (
    BULK_LIMIT,
    LIFECYCLE_ACTIONS,
    LifecycleAction,
    RestartPoint,
    instance_pause,
    instance_restart,
    instance_resume,
    instance_set_status,
    instance_terminate,
    instances_bulk_action,
)
from workflows_app.services.retention import retention_purge
from workflows_app.services.tenancy import (
    TOKEN_DISPLAY_CHARS,
    TOKEN_PREFIX,
    TOKEN_TOUCH_SECONDS,
    CreatedToken,
    account_create,
    membership_set,
    token_create,
    token_revoke,
    token_touch,
    user_set,
)
from workflows_app.services.workflows import (
    workflow_delete,
    workflow_enable,
    workflow_set_retention,
)

__all__ = [
    "BULK_LIMIT",
    "LIFECYCLE_ACTIONS",
    "MAX_BATCH",
    "MAX_INSTANCE_ID",
    "RESERVED_INSTANCE_IDS",
    "TOKEN_DISPLAY_CHARS",
    "TOKEN_PREFIX",
    "TOKEN_TOUCH_SECONDS",
    "AlreadyDecidedError",
    "CreatedToken",
    "LifecycleAction",
    "RestartPoint",
    "account_create",
    "approval_decide",
    "event_send",
    "instance_create",
    "instance_create_batch",
    "instance_delete",
    "instance_pause",
    "instance_restart",
    "instance_resume",
    "instance_set_status",
    "instance_terminate",
    "instances_bulk_action",
    "membership_set",
    "retention_purge",
    "token_create",
    "token_revoke",
    "token_touch",
    "user_set",
    "validate_instance_id",
    "validate_json_value",
    "workflow_delete",
    "workflow_enable",
    "workflow_set_retention",
]
