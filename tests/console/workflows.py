"""Workflows the console tests drive."""

from __future__ import annotations

import threading
from typing import Any

from workflows_app.sdk import WorkflowEntrypoint

gate = threading.Event()
XSS = '<script>window.pwned = true</script><img src=x onerror="window.pwned=true">'


class Gated(WorkflowEntrypoint):
    """Its middle step runs until the test opens the gate."""

    name = "console-gated"

    async def run(self, event: Any, step: Any) -> str:
        await step.do("prepare", lambda: "ready")
        await step.do("slow step", lambda: gate.wait(timeout=30) and "done")
        return "finished"


class Hostile(WorkflowEntrypoint):
    """Outputs and errors are user data: they must render inert."""

    name = "console-hostile"

    def run(self, event: Any, step: Any) -> Any:
        step.do(XSS[:200], lambda: {"html": XSS})
        raise ValueError(XSS)


class ManySteps(WorkflowEntrypoint):
    """As many steps as params["n"], for the paged timeline."""

    name = "console-many-steps"

    def run(self, event: Any, step: Any) -> int:
        for n in range(event.payload["n"]):
            step.do(f"s{n}", lambda: None)
        return event.payload["n"]


class Repeated(WorkflowEntrypoint):
    """The same step name twice (counts 1 and 2): each output gets its own HTML id."""

    name = "console-repeated"

    def run(self, event: Any, step: Any) -> None:
        step.do("same", lambda: "first output")
        step.do("same", lambda: "second output")
