"""More workflows of the engine tests: leases, the activation budget, concurrency edge cases.

Registered next to ``tests/workflows.py`` by ``tests/engine/conftest.py``.
The concurrency workflows reproduced engine bugs found in review; they count
body runs in the shared ``CALLS`` and hold bodies with ``gate(name)``. The
lease workflows hold their body until the test sets ``release``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from tests.workflows import CALLS, GATES
from workflows_app.sdk import InvalidStepError, WorkflowEntrypoint, WorkflowEvent, WorkflowStep

started = threading.Event()
release = threading.Event()
ran: list[str] = []
replays: list[int] = []


def reset() -> None:
    started.clear()
    release.clear()
    ran.clear()
    replays.clear()


def gate(name: str) -> threading.Event:
    return GATES.setdefault(name, threading.Event())


# --- leases ------------------------------------------------------------------------


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


class LeaseBlockingAsync(WorkflowEntrypoint):
    name = "lease-blocking-async"

    async def run(self, event: Any, step: Any) -> str:
        await step.do("first", _blocking_body)
        return await step.do("second", _second_body)


class LeaseBlockingSync(WorkflowEntrypoint):
    name = "lease-blocking-sync"

    def run(self, event: Any, step: Any) -> str:
        step.do("first", _blocking_body)
        return step.do("second", _second_body)


class LeaseSlowAsync(WorkflowEntrypoint):
    name = "lease-slow-async"

    async def run(self, event: Any, step: Any) -> str:
        return await step.do("slow", _slow_body)


class LeaseSlowSync(WorkflowEntrypoint):
    name = "lease-slow-sync"

    def run(self, event: Any, step: Any) -> str:
        return step.do("slow", _slow_body)


# --- the activation budget -----------------------------------------------------------


class BudgetFiveSteps(WorkflowEntrypoint):
    name = "budget-five-steps"

    async def run(self, event: Any, step: Any) -> list[int]:
        replays.append(1)
        return [await step.do(f"s{n}", lambda n=n: n) for n in range(5)]


class BudgetTooLongTimeout(WorkflowEntrypoint):
    name = "budget-too-long-timeout"

    def run(self, event: Any, step: Any) -> str:
        try:
            step.do("slow", lambda: 1, config={"timeout": "11 minutes"})
        except InvalidStepError as exc:
            return str(exc)
        return "accepted"


# --- concurrency edge cases found in review ----------------------------------------


class PendingLoss(WorkflowEntrypoint):
    name = "rev-pending-loss"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        async def branch(tag):
            out = []
            for i in range(30):

                async def body(i=i):
                    CALLS[f"{tag}{i}"] += 1
                    return i

                out.append(await step.do(f"{tag}{i}", body))
            return out

        a, b = await asyncio.gather(branch("a"), branch("b"))
        await step.sleep("nap", "1 hour")
        return len(a) + len(b)


class RaceSwallow(WorkflowEntrypoint):
    name = "rev-race-swallow"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        approval = asyncio.ensure_future(
            step.wait_for_event("approval", type="approve", timeout="7 days")
        )
        deadline = asyncio.ensure_future(step.sleep("deadline", "1 day"))
        done, pending = await asyncio.wait(
            {approval, deadline}, return_when=asyncio.FIRST_COMPLETED
        )
        for t in pending:
            t.cancel()
        winner = "approval" if approval in done else "deadline"
        second = await step.wait_for_event("second", type="approve", timeout="7 days")
        return {"winner": winner, "second": second["payload"]}


class EarlySuspend(WorkflowEntrypoint):
    name = "rev-early-suspend"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        w = asyncio.ensure_future(step.wait_for_event("w", type="go", timeout="1 day"))
        await asyncio.sleep(0.05)  # any non-step await longer than ~20 loop turns
        r = await step.do("after", lambda: CALLS.update(["after"]) or "ran")
        got = await w
        return [r, got["payload"]]


class ResumeLost(WorkflowEntrypoint):
    name = "rev-resume-lost"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        def long_a():
            gate("a_started").set()
            assert gate("a_release").wait(10)
            return "a"

        def b1():
            gate("b_started").set()
            assert gate("b_release").wait(10)
            return "b1"

        async def branch_b():
            x = await step.do("b1", b1)
            y = await step.do("b2", lambda: "b2")
            return [x, y]

        a, b = await asyncio.gather(step.do("a", long_a), branch_b())
        return [a, *b]


class SyncSimple(WorkflowEntrypoint):
    name = "rev-sync-simple"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        x = step.do("x", lambda: "x")
        step.sleep("nap", "1 minute")
        return x


class GatherSeq(WorkflowEntrypoint):
    name = "rev-gather-seq"

    async def run(self, event, step):
        def mk(n):
            def f():
                CALLS[n] += 1
                return n

            return f

        a, b = await asyncio.gather(step.do("left", mk("left")), step.do("right", mk("right")))
        await step.sleep("nap", "1 hour")
        return [a, b]


class DeepGather(WorkflowEntrypoint):
    name = "rev-deep-gather"

    async def run(self, event, step):
        w = asyncio.ensure_future(step.wait_for_event("w", type="go", timeout="1 day"))

        async def nest(depth):
            if depth == 0:
                return await step.do("inner", lambda: "inner")
            (r,) = await asyncio.gather(nest(depth - 1))
            return r

        r = await nest(15)
        after = await step.do("after", lambda: CALLS.update(["after"]) or "ran")
        got = await w
        return [r, after, got["payload"]]
