"""Workflows of the heartbeat and runaway-body tests (registered by those test modules).

``run()`` that is slow between two steps, and step bodies that spin, sleep or
ignore the request to stop. Bodies count their runs in ``RUNS``; ``SPINS``
counts the iterations of the spinning bodies, so a test can see whether one
still runs after it was stopped.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

from workflows_app.sdk import WorkflowEntrypoint

RUNS: Counter[str] = Counter()
SPINS: Counter[str] = Counter()
blocked = threading.Event()  # run() is blocked between its two steps
unblock = threading.Event()  # the test lets run() go on


def reset() -> None:
    RUNS.clear()
    SPINS.clear()
    blocked.clear()
    unblock.clear()


def _before() -> str:
    RUNS["before"] += 1
    return "before done"


def _after() -> str:
    RUNS["after"] += 1
    return "after done"


def _block_outside_a_step(params: dict[str, Any]) -> None:
    """What run() does between its steps: sleep (a wall-clock block) or wait for the test."""
    blocked.set()
    if params.get("sleep"):
        time.sleep(params["sleep"])
    else:
        unblock.wait(timeout=30)


class SlowBetweenStepsSync(WorkflowEntrypoint):
    name = "runaway-slow-run-sync"

    def run(self, event: Any, step: Any) -> Any:
        before = step.do("before", _before)
        _block_outside_a_step(event.payload or {})
        return [before, step.do("after", _after)]


class SlowBetweenStepsAsync(WorkflowEntrypoint):
    """Blocks its own event loop (no await) between the steps: the misuse at its worst."""

    name = "runaway-slow-run-async"

    async def run(self, event: Any, step: Any) -> Any:
        before = await step.do("before", _before)
        _block_outside_a_step(event.payload or {})
        return [before, await step.do("after", _after)]


def _spin(key: str) -> None:
    RUNS[key] += 1
    while True:
        SPINS[key] += 1


def _stuck_in_c(key: str) -> None:
    """Blocked in a C call: a request to stop reaches it only when the call returns."""
    RUNS[key] += 1
    time.sleep(10)


def _burn_ms(ms: float) -> str:
    started = time.thread_time()
    while (time.thread_time() - started) * 1000 < ms:
        pass
    return f"burned {ms} ms"


async def _spin_async(key: str) -> None:
    RUNS[key] += 1
    while True:  # never awaits: blocks the event loop
        SPINS[key] += 1


async def _spin_async_awaiting(key: str) -> None:
    RUNS[key] += 1
    while True:
        for _ in range(1000):
            SPINS[key] += 1
        await asyncio.sleep(0)


_BODIES = {
    "spin": _spin,
    "stuck-in-c": _stuck_in_c,
}
_ASYNC_BODIES = {"spin": _spin_async, "spin-awaiting": _spin_async_awaiting}


class RunawaySync(WorkflowEntrypoint):
    """One step whose body is picked by params: ``body``, ``timeout``, ``retries``."""

    name = "runaway-sync"

    def run(self, event: Any, step: Any) -> Any:
        params = event.payload
        body = _BODIES[params["body"]]
        try:
            step.do(
                "runaway",
                lambda: body(params["body"]),
                config={
                    "timeout": params.get("timeout", "1 second"),
                    "retries": {"limit": params.get("retries", 0), "delay": 10},
                },
            )
        except Exception as exc:
            return {"error": type(exc).__name__}
        return "unreachable"


class RunawayAsync(WorkflowEntrypoint):
    """``async def run`` with a coroutine body (``async_body``) or a thread-run one (``body``)."""

    name = "runaway-async"

    async def run(self, event: Any, step: Any) -> Any:
        params = event.payload
        name = params.get("async_body") or params["body"]

        async def coroutine_body() -> Any:
            return await _ASYNC_BODIES[name](name)

        def thread_body() -> Any:
            return _BODIES[name](name)

        try:
            await step.do(
                "runaway",
                coroutine_body if params.get("async_body") else thread_body,
                config={
                    "timeout": params.get("timeout", "1 second"),
                    "retries": {"limit": params.get("retries", 0), "delay": 10},
                },
            )
        except Exception as exc:
            return {"error": type(exc).__name__}
        return "unreachable"


class BurnsCpu(WorkflowEntrypoint):
    """A step burning ``ms`` of CPU, then a cheap one: the per-step limit, and the fast path."""

    name = "runaway-burns-cpu"

    def run(self, event: Any, step: Any) -> Any:
        params = event.payload
        try:
            burned = step.do(
                "burn",
                lambda: _burn_ms(params["ms"]),
                config={"timeout": "20 seconds", "retries": {"limit": 0, "delay": 10}},
            )
        except Exception as exc:
            return {"error": type(exc).__name__, "message": str(exc)}
        return [burned, step.do("cheap", _after)]


class BurnsCpuAsync(WorkflowEntrypoint):
    name = "runaway-burns-cpu-async"

    async def run(self, event: Any, step: Any) -> Any:
        params = event.payload

        async def burn() -> str:
            return _burn_ms(params["ms"])  # never awaits while it burns

        body = burn if params.get("coroutine") else (lambda: _burn_ms(params["ms"]))
        try:
            burned = await step.do(
                "burn", body, config={"timeout": "20 seconds", "retries": {"limit": 0, "delay": 10}}
            )
        except Exception as exc:
            return {"error": type(exc).__name__, "message": str(exc)}
        return [burned, await step.do("cheap", _after)]
