"""Workflows the fault tests run in real worker processes (via WORKFLOW_MODULES).

Every step body records its entry in the ledger first (``ledger.enter``).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from workflows_app.sdk import WorkflowEntrypoint

from . import ledger


def _body_b(key: str, ctx: dict[str, Any], params: dict[str, Any]) -> str:
    attempt = ctx["attempt"]
    ledger.enter(key, "B", attempt)
    if attempt == 1 and params.get("block_first"):
        ledger.wait_flag(key, "release")
    if params.get("b_seconds"):
        time.sleep(params["b_seconds"])
    return f"B-attempt-{attempt}"


class ThreeSteps(WorkflowEntrypoint):
    """A -> B -> (optional sleep) -> C; B's behaviour is steered by the params.

    params: key, block_first (attempt 1 of B waits for the "release" flag),
    b_seconds (B sleeps that long), b_timeout (B's step timeout), sleep (a
    durable step.sleep between B and C).
    """

    name = "itest-three-steps"

    def run(self, event: Any, step: Any) -> Any:
        params = event.payload
        key = params["key"]
        a = step.do("A", lambda: ledger.enter(key, "A"))
        b = step.do(
            "B",
            lambda ctx: _body_b(key, ctx, params),
            config={
                "timeout": params.get("b_timeout", "20 seconds"),
                "retries": {"limit": 3, "delay": 100, "backoff": "constant"},
            },
        )
        if params.get("sleep"):
            step.sleep("nap", params["sleep"])
        c = step.do("C", lambda: ledger.enter(key, "C"))
        return {"a": a, "b": b, "c": c}


class OneStep(WorkflowEntrypoint):
    """One step: the smallest unit of work (throughput and latency)."""

    name = "itest-one-step"

    def run(self, event: Any, step: Any) -> Any:
        key = event.payload["key"]
        return step.do("only", lambda: ledger.enter(key, "only"))


class KillsItsWorker(WorkflowEntrypoint):
    """Kills the process replaying it, outside any step: a poison instance."""

    name = "itest-kills-its-worker"

    def run(self, event: Any, step: Any) -> Any:
        if os.environ.get("ITEST_WORKER") == "1":  # never the test process itself
            ledger.enter(event.payload["key"], "replay")
            os.kill(os.getpid(), signal.SIGKILL)
        return step.do("unreachable", lambda: ledger.enter(event.payload["key"], "unreachable"))
