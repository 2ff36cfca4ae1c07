"""Workflows the API tests drive (registered by tests/api/conftest.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from workflows_app.sdk import WorkflowEntrypoint, WorkflowEvent, WorkflowStep

ATTEMPTS: Counter[str] = Counter()

RETRY_ONCE = {"retries": {"limit": 2, "delay": "0 seconds", "backoff": "constant"}}


class ApiEcho(WorkflowEntrypoint):
    """Returns its params after one step."""

    name = "api-echo"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        return step.do("echo", lambda: {"params": event.payload})


class ApiApproval(WorkflowEntrypoint):
    """A flaky step (fails on its first attempt), then waits for an "approval" event."""

    name = "api-approval"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        key = event.instance_id

        def flaky() -> str:
            ATTEMPTS[key] += 1
            if ATTEMPTS[key] == 1:
                raise ValueError("boom on attempt 1")
            return f"ok on attempt {ATTEMPTS[key]}"

        first = step.do("flaky", flaky, config=RETRY_ONCE)
        approval = step.wait_for_event("wait-approval", type="approval", timeout="1 hour")
        return {"flaky": first, "approved_by": approval["payload"]}


class ApiSleeper(WorkflowEntrypoint):
    """Sleeps for a day between two steps: stays "waiting" while the test acts on it."""

    name = "api-sleeper"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        step.do("before", lambda: "before")
        step.sleep("nap", "1 day")
        return step.do("after", lambda: "after")
