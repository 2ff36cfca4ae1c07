"""Workflows that reproduced engine bugs found in review."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from workflows_app.sdk import WorkflowEntrypoint, WorkflowEvent, WorkflowStep

CALLS: Counter = Counter()
GATES: dict = {}


def gate(name):
    return GATES.setdefault(name, threading.Event())


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
