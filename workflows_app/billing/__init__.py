"""Plans, quotas, usage and money: the billing wing.

The engine meets it through one narrow function, ``plans.plan_of``; the meters
themselves are written by the engine's journal (``engine.journal.meters``).
"""

from workflows_app.billing.statement import (
    DayUsage,
    MeterLine,
    Period,
    Statement,
    WorkflowUsage,
    statement,
    top_instances_by_cpu,
    usage_by_day,
    usage_by_workflow,
)

__all__ = [
    "DayUsage",
    "MeterLine",
    "Period",
    "Statement",
    "WorkflowUsage",
    "statement",
    "top_instances_by_cpu",
    "usage_by_day",
    "usage_by_workflow",
]
