"""Reads for the binding, the REST API, the CLI and the console: queries only, no N+1.

One module per sub-domain; this package re-exports them so call sites say
``selectors.instance_get``.
"""

from workflows_app.engine.errors import StepNotFoundError, TokenRejectedError
from workflows_app.selectors.console import (
    FilteredInstancePage,
    InstanceFilters,
    Overview,
    accounts_by_name,
    approval_get,
    audit_page,
    capped_count,
    instance_attempts_cpu_ms,
    instance_find,
    instance_page,
    instances_by_pk,
    instances_matching,
    membership_get,
    membership_list,
    open_steps_of,
    overview,
    pending_approvals,
    status_counts,
    step_count,
    step_records,
    workflow_names,
)
from workflows_app.selectors.instances import (
    InstancePage,
    instance_get,
    instance_latest,
    instance_list,
    instance_reload,
    instance_step_records,
    parse_time_bound,
    step_record_get,
)
from workflows_app.selectors.paging import Cursor
from workflows_app.selectors.tenancy import (
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
    "Cursor",
    "FilteredInstancePage",
    "InstanceFilters",
    "InstancePage",
    "Overview",
    "StepNotFoundError",
    "TokenRejectedError",
    "account_get",
    "account_list",
    "accounts_by_name",
    "approval_get",
    "audit_page",
    "capped_count",
    "instance_attempts_cpu_ms",
    "instance_find",
    "instance_get",
    "instance_latest",
    "instance_list",
    "instance_page",
    "instance_reload",
    "instance_step_records",
    "instances_by_pk",
    "instances_matching",
    "membership_get",
    "membership_list",
    "open_steps_of",
    "overview",
    "parse_time_bound",
    "pending_approvals",
    "status_counts",
    "step_count",
    "step_record_get",
    "step_records",
    "token_authenticate",
    "token_get",
    "token_list",
    "workflow_get",
    "workflow_get_with_counts",
    "workflow_instance_counts",
    "workflow_list",
    "workflow_names",
]
