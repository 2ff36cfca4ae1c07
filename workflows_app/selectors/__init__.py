"""Reads for the binding, the REST API, the CLI and the console: queries only, no N+1.

One module per sub-domain; this package re-exports them so call sites say
``selectors.instance_get``.
"""

from workflows_app.selectors.instances import (
    InstancePage,
    StepNotFoundError,
    instance_get,
    instance_latest,
    instance_list,
    instance_status,
    instance_steps,
    parse_time_bound,
    step_record_get,
    step_view,
)
from workflows_app.selectors.tenancy import (
    TokenRejectedError,
    account_get,
    account_list,
    token_authenticate,
    token_get,
    token_list,
)
from workflows_app.selectors.workflows import (
    workflow_get,
    workflow_get_with_counts,
    workflow_instance_counts,
    workflow_list,
)

__all__ = [
    "InstancePage",
    "StepNotFoundError",
    "TokenRejectedError",
    "account_get",
    "account_list",
    "instance_get",
    "instance_latest",
    "instance_list",
    "instance_status",
    "instance_steps",
    "parse_time_bound",
    "step_record_get",
    "step_view",
    "token_authenticate",
    "token_get",
    "token_list",
    "workflow_get",
    "workflow_get_with_counts",
    "workflow_instance_counts",
    "workflow_list",
]
