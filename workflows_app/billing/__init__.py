"""Plans, quotas, retention requests, usage and money: the billing wing.

The engine meets it through one narrow function, ``plans.plan_of``; the meters
themselves are written by the engine's journal (``engine.journal.meters``).

* ``plans``      the seed's default plans and the one cached ``plan_of(account)``
* ``quotas``     the plan's daily invocations and storage limits, checked at creation
* ``retention``  retention requests, refused above the plan's maximum
* ``usage``      usage per day, per workflow and top instances by CPU in a period
* ``statement``  included amounts, overage and cost per meter, with a projection
"""

from workflows_app.billing.plans import DEFAULT_PLANS, FREE_PLAN, plan_named, plan_of
from workflows_app.billing.quotas import (
    account_stored_bytes,
    check_quotas,
    instance_stored_bytes,
    invocations_on,
)
from workflows_app.billing.retention import parse_retention
from workflows_app.billing.statement import MeterLine, Statement, statement
from workflows_app.billing.usage import (
    DayUsage,
    InstanceUsage,
    Period,
    WorkflowUsage,
    top_instances_by_cpu,
    usage_by_day,
    usage_by_workflow,
)

__all__ = [
    "DEFAULT_PLANS",
    "FREE_PLAN",
    "DayUsage",
    "InstanceUsage",
    "MeterLine",
    "Period",
    "Statement",
    "WorkflowUsage",
    "account_stored_bytes",
    "check_quotas",
    "instance_stored_bytes",
    "invocations_on",
    "parse_retention",
    "plan_named",
    "plan_of",
    "statement",
    "top_instances_by_cpu",
    "usage_by_day",
    "usage_by_workflow",
]
