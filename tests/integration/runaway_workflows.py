"""Workflows of the runaway-body and slow-run() fault tests (``test_runaway.py``).

The worker processes load them with ``WORKFLOW_MODULES``; every body records
its entry in the ledger first, so the test knows which pool process ran it.
"""

from __future__ import annotations

import time
from typing import Any

from workflows_app.sdk import WorkflowEntrypoint

from . import ledger


def _spin(key: str, ctx: dict[str, Any]) -> None:
    ledger.enter(key, "spin", ctx["attempt"])
    while True:
        pass


def _stuck_in_c(key: str, ctx: dict[str, Any]) -> None:
    ledger.enter(key, "stuck", ctx["attempt"])
    time.sleep(60)  # a C call: a request to stop reaches it only when it returns


class Spin(WorkflowEntrypoint):
    """One step spinning forever: ``timeout`` and ``retries`` from the params."""

    name = "itest-spin"

    def run(self, event: Any, step: Any) -> Any:
        params = event.payload
        key = params["key"]
        body = _stuck_in_c if params.get("stuck") else _spin
        try:
            step.do(
                "runaway",
                lambda ctx: body(key, ctx),
                config={
                    "timeout": params.get("timeout", "2 seconds"),
                    "retries": {"limit": params.get("retries", 0), "delay": 100},
                },
            )
        except Exception as exc:
            return {"error": type(exc).__name__}
        return "unreachable"


class SlowRun(WorkflowEntrypoint):
    """run() sleeps ``sleep`` seconds (wall clock) between two steps."""

    name = "itest-slow-run"

    def run(self, event: Any, step: Any) -> Any:
        params = event.payload
        key = params["key"]
        before = step.do("before", lambda: ledger.enter(key, "before"))
        time.sleep(params["sleep"])
        after = step.do("after", lambda: ledger.enter(key, "after"))
        return [before, after]
