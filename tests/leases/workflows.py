"""Workflows whose step bodies block until the test lets them go."""

from __future__ import annotations

import threading
import time
from typing import Any

from workflows_app.sdk import WorkflowEntrypoint

started = threading.Event()
release = threading.Event()
ran: list[str] = []


def reset() -> None:
    started.clear()
    release.clear()
    ran.clear()


def _blocking_body() -> str:
    ran.append("first")
    started.set()
    release.wait(timeout=10)
    return "first done"


def _second_body() -> str:
    ran.append("second")
    return "second done"


def _slow_body() -> str:
    ran.append("slow")
    started.set()
    time.sleep(1.0)
    return "slow done"


class BlockingAsync(WorkflowEntrypoint):
    name = "lease-blocking-async"

    async def run(self, event: Any, step: Any) -> str:
        await step.do("first", _blocking_body)
        return await step.do("second", _second_body)


class BlockingSync(WorkflowEntrypoint):
    name = "lease-blocking-sync"

    def run(self, event: Any, step: Any) -> str:
        step.do("first", _blocking_body)
        return step.do("second", _second_body)


class SlowAsync(WorkflowEntrypoint):
    name = "lease-slow-async"

    async def run(self, event: Any, step: Any) -> str:
        return await step.do("slow", _slow_body)


class SlowSync(WorkflowEntrypoint):
    name = "lease-slow-sync"

    def run(self, event: Any, step: Any) -> str:
        return step.do("slow", _slow_body)


replays: list[int] = []


class FiveSteps(WorkflowEntrypoint):
    name = "budget-five-steps"

    async def run(self, event: Any, step: Any) -> list[int]:
        replays.append(1)
        return [await step.do(f"s{n}", lambda n=n: n) for n in range(5)]


class TooLongTimeout(WorkflowEntrypoint):
    name = "budget-too-long-timeout"

    def run(self, event: Any, step: Any) -> str:
        from workflows_app.sdk import InvalidStepError

        try:
            step.do("slow", lambda: 1, config={"timeout": "11 minutes"})
        except InvalidStepError as exc:
            return str(exc)
        return "accepted"
