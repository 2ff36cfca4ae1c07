"""Workflows the benchmark runs (registered in worker processes via WORKFLOW_MODULES)."""

from __future__ import annotations

from typing import Any

from workflows_app.sdk import WorkflowEntrypoint


def _noop() -> None:
    return None


class OneStep(WorkflowEntrypoint):
    name = "bench-one-step"

    def run(self, event: Any, step: Any) -> Any:
        return step.do("only", _noop)


class TenSteps(WorkflowEntrypoint):
    name = "bench-ten-steps"

    def run(self, event: Any, step: Any) -> Any:
        for index in range(10):
            step.do(f"step {index}", _noop)


class WaitsForEvent(WorkflowEntrypoint):
    name = "bench-waits-for-event"

    def run(self, event: Any, step: Any) -> Any:
        return step.wait_for_event("go", type="go", timeout="10 minutes")["payload"]


class SleepsOneSecond(WorkflowEntrypoint):
    name = "bench-sleeps-one-second"

    def run(self, event: Any, step: Any) -> Any:
        step.sleep("nap", "1 second")


class SleepsUntil(WorkflowEntrypoint):
    """The thundering herd: every instance sleeps until the same instant."""

    name = "bench-sleeps-until"

    def run(self, event: Any, step: Any) -> Any:
        step.sleep_until("herd", event.payload["at"])
        return step.do("after", _noop)


class LongJournal(WorkflowEntrypoint):
    """``n`` steps, then a long sleep: replaying it costs what its journal costs."""

    name = "bench-long-journal"

    def run(self, event: Any, step: Any) -> Any:
        for index in range(event.payload["n"]):
            step.do(f"step {index}", _noop)
        step.sleep("park", "1 day")
