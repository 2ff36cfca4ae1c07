"""Workflows the wait-deadline fault test runs in real worker processes."""

from __future__ import annotations

from typing import Any

from workflows_app.sdk import WorkflowEntrypoint, WorkflowTimeoutError


class LateEvent(WorkflowEntrypoint):
    """One 3-second wait for a "late" event: returns what it got, or that it timed out."""

    name = "itest-late-event"

    def run(self, event: Any, step: Any) -> Any:
        try:
            got = step.wait_for_event("w", type="late", timeout="3 seconds")
        except WorkflowTimeoutError as exc:
            return {"timed_out": str(exc)}
        return {"got": got["payload"], "event_ts": got["timestamp"].isoformat()}
