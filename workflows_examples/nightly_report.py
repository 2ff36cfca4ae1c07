"""A nightly report: wait for the window, then a slow aggregation step.

Params: ``{"seconds": 300}``, how long the aggregation takes. It stands in for a
slow query or export and mostly waits (little CPU), so it shows an instance
that is *running* a long step, with its lease renewed by the heartbeat.
"""

from __future__ import annotations

import time
from typing import Any

from workflows_app.sdk import WorkflowEntrypoint, WorkflowEvent, WorkflowStep


def aggregate(seconds: float) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    return {"orders": 1234, "revenue_cents": 9_876_500}


class NightlyReportWorkflow(WorkflowEntrypoint):
    name = "nightly-report"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> dict[str, Any]:
        step.sleep("wait for the nightly window", "5 seconds")
        totals = step.do(
            "aggregate sales",
            lambda: aggregate(event.payload.get("seconds", 300)),
            config={"timeout": "10 minutes", "retries": {"limit": 1}},
        )
        return step.do("publish report", lambda: {"published": True, **totals})
