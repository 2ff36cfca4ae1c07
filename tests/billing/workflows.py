"""Workflows whose usage the billing tests meter."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from workflows_app.sdk import WorkflowEntrypoint

flaky_attempts: list[int] = []


def burn_cpu(ms: float) -> str:
    """Spin on the CPU (not sleep): CPU time is what plans limit."""
    deadline = time.thread_time() + ms / 1000
    while time.thread_time() < deadline:
        pass
    return "burned"


class Mix(WorkflowEntrypoint):
    """Steps, parallel steps, a retried step, an event and a sleep: every meter moves."""

    name = "meter-mix"

    async def run(self, event: Any, step: Any) -> dict[str, Any]:
        first = await step.do("first", lambda: {"text": "x" * 500})
        left, right = await asyncio.gather(
            step.do("left", lambda: burn_cpu(2)), step.do("right", lambda: [1, 2, 3])
        )

        def flaky(ctx: dict[str, Any]) -> str:
            flaky_attempts.append(ctx["attempt"])
            if ctx["attempt"] == 1:
                raise RuntimeError("first attempt fails")
            return "second works"

        retried = await step.do(
            "flaky", flaky, config={"retries": {"limit": 2, "delay": 0, "backoff": "constant"}}
        )
        answer = await step.wait_for_event("answer", type="answer", timeout="1 hour")
        await step.sleep("nap", "1 minute")
        return {
            "first": len(first["text"]),
            "parallel": [left, right],
            "retried": retried,
            "answer": answer["payload"],
        }


class CpuHeavy(WorkflowEntrypoint):
    name = "meter-cpu-heavy"

    def run(self, event: Any, step: Any) -> str:
        return step.do("heavy", lambda: burn_cpu(40), config={"retries": {"limit": 0}})


class Tiny(WorkflowEntrypoint):
    name = "meter-tiny"

    def run(self, event: Any, step: Any) -> Any:
        return step.do("echo", lambda: event.payload)
