"""Workflows used by the engine tests (registered through settings.WORKFLOW_MODULES).

Step bodies count their runs in ``CALLS`` so tests can prove that a body ran
exactly once across replays. ``SEEN`` keeps what bodies observed, ``SWITCH``
changes the code between activations, ``GATES`` lets a test hold a step body
while it acts on the instance. ``tests/engine/conftest.py`` resets them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from workflows_app.sdk import (
    InvalidStepError,
    NonRetryableError,
    StepLimitExceededError,
    WorkflowEntrypoint,
    WorkflowEvent,
    WorkflowStep,
    WorkflowTimeoutError,
    get_workflow,
)
from workflows_examples.models import ExampleOrder

CALLS: Counter[str] = Counter()
SEEN: dict[str, Any] = {}
SWITCH: dict[str, Any] = {}
GATES: dict[str, threading.Event] = {}


def reset() -> None:
    CALLS.clear()
    SEEN.clear()
    SWITCH.clear()
    GATES.clear()


def bump(key: str) -> int:
    CALLS[key] += 1
    return CALLS[key]


class PaymentDeclinedError(Exception):
    """An ordinary (retryable) application error."""


class PermanentFailureError(NonRetryableError):
    """A subclass of NonRetryableError: matched by class, so one attempt only."""


class GatewayError(Exception):
    """An error whose constructor does not take a lone message: it cannot be rebuilt."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


ERRORS: dict[str, Callable[[str], Exception]] = {
    "GatewayError": lambda message: GatewayError(502, message),
    "ValueError": ValueError,
    "PaymentDeclinedError": PaymentDeclinedError,
    "NonRetryableError": NonRetryableError,
    "PermanentFailureError": PermanentFailureError,
}


def _event_view(received: dict[str, Any]) -> dict[str, Any]:
    """A received event as JSON (the timestamp is a datetime)."""
    return {
        "keys": sorted(received),
        "payload": received["payload"],
        "timestamp": received["timestamp"].isoformat(),
        "timestamp_is_datetime": isinstance(received["timestamp"], dt.datetime),
        "type": received["type"],
    }


# --- the entrypoint and its event ------------------------------------------------


def _describe(event: WorkflowEvent) -> dict[str, Any]:
    return {
        "payload": event.payload,
        "timestamp": event.timestamp.isoformat(),
        "instance_id": event.instance_id,
        "workflow_name": event.workflow_name,
    }


class EchoAsync(WorkflowEntrypoint):
    name = "echo-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        return _describe(event)


class EchoSync(WorkflowEntrypoint):
    name = "echo-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        return _describe(event)


# --- step.do: bodies, ctx, decorator, threads ------------------------------------


def plain_body() -> str:
    bump("plain")
    return "from a sync function"


async def coroutine_body() -> str:
    bump("coroutine")
    await asyncio.sleep(0)
    return "from an async function"


def ctx_body(ctx: dict[str, Any]) -> dict[str, Any]:
    bump("with ctx")
    return ctx


DECORATED_CONFIG = {"retries": {"limit": 1, "delay": "2 seconds", "backoff": "constant"}}


class StepsAsync(WorkflowEntrypoint):
    name = "steps-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        sync_value = await step.do("sync function", plain_body)
        async_value = await step.do("async function", coroutine_body)
        ctx = await step.do("with ctx", ctx_body)

        @step.do("decorated", config=DECORATED_CONFIG)
        def decorated(ctx: dict[str, Any]) -> dict[str, Any]:
            bump("decorated")
            return {"name": ctx["step"]["name"], "config": ctx["config"]}

        decorated_value = await decorated()

        @step.do()
        async def named_after_function() -> str:
            bump("named_after_function")
            return "default name"

        default_named = await named_after_function()
        return [sync_value, async_value, ctx, decorated_value, default_named]


class StepsSync(WorkflowEntrypoint):
    name = "steps-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        sync_value = step.do("sync function", plain_body)
        async_value = step.do("async function", coroutine_body)
        ctx = step.do("with ctx", ctx_body)

        @step.do("decorated", config=DECORATED_CONFIG)
        def decorated(ctx: dict[str, Any]) -> dict[str, Any]:
            bump("decorated")
            return {"name": ctx["step"]["name"], "config": ctx["config"]}

        decorated_value = decorated()

        @step.do()
        async def named_after_function() -> str:
            bump("named_after_function")
            return "default name"

        default_named = named_after_function()
        return [sync_value, async_value, ctx, decorated_value, default_named]


def orm_body(order_id: str) -> Callable[[], dict[str, Any]]:
    def body() -> dict[str, Any]:
        SEEN["orm thread"] = threading.current_thread().name
        ExampleOrder.objects.create(order_id=order_id, status="written by a step")
        return {"rows": ExampleOrder.objects.filter(order_id=order_id).count()}

    return body


class OrmAsync(WorkflowEntrypoint):
    name = "orm-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        return await step.do("write a row", orm_body(event.instance_id))


class OrmSync(WorkflowEntrypoint):
    name = "orm-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        return step.do("write a row", orm_body(event.instance_id))


# --- retries -----------------------------------------------------------------------


def flaky_body(params: dict[str, Any]) -> Callable[[dict[str, Any]], str]:
    """Fails with params["error"] on the first params["fail_times"] attempts."""

    def flaky(ctx: dict[str, Any]) -> str:
        bump("flaky")
        SEEN.setdefault("flaky configs", []).append(ctx["config"])
        if ctx["attempt"] <= params["fail_times"]:
            raise ERRORS[params.get("error", "ValueError")](f"boom on attempt {ctx['attempt']}")
        return f"ok on attempt {ctx['attempt']}"

    return flaky


def _caught(exc: BaseException) -> dict[str, Any]:
    return {"caught": type(exc).__name__, "message": str(exc)}


class RetryingSync(WorkflowEntrypoint):
    """Params: fail_times, error (a key of ERRORS), config, catch."""

    name = "retrying-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        params = event.payload
        try:
            result: Any = step.do("flaky", flaky_body(params), config=params.get("config"))
        except Exception as exc:
            if not params.get("catch"):
                raise
            result = _caught(exc)
        after = step.do("after", lambda: bump("after") and "continued")
        return {"result": result, "after": after}


class RetryingAsync(WorkflowEntrypoint):
    name = "retrying-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        params = event.payload
        try:
            result: Any = await step.do("flaky", flaky_body(params), config=params.get("config"))
        except Exception as exc:
            if not params.get("catch"):
                raise
            result = _caught(exc)
        after = await step.do("after", lambda: bump("after") and "continued")
        return {"result": result, "after": after}


class ConfigCheck(WorkflowEntrypoint):
    """Calls step.do with params["config"] and reports the InvalidStepError it raises."""

    name = "config-check"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        try:
            return step.do("checked", lambda: bump("checked"), config=event.payload["config"])
        except InvalidStepError as exc:
            return _caught(exc)


class TimeoutsSync(WorkflowEntrypoint):
    """Attempts up to params["slow_attempts"] outlast params["timeout"] (ms)."""

    name = "timeouts-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        params = event.payload

        def slow(ctx: dict[str, Any]) -> int:
            bump("slow")
            if ctx["attempt"] <= params["slow_attempts"]:
                time.sleep(0.3)
            return ctx["attempt"]

        config = {
            "retries": {"limit": params["limit"], "delay": 1000, "backoff": "constant"},
            "timeout": params["timeout"],
        }
        try:
            return {"result": step.do("slow", slow, config=config)}
        except WorkflowTimeoutError as exc:
            return _caught(exc)


class TimeoutsAsync(WorkflowEntrypoint):
    name = "timeouts-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        params = event.payload

        async def slow(ctx: dict[str, Any]) -> int:
            bump("slow")
            if ctx["attempt"] <= params["slow_attempts"]:
                await asyncio.sleep(0.3)
            return ctx["attempt"]

        def slow_sync(ctx: dict[str, Any]) -> int:
            bump("slow")
            if ctx["attempt"] <= params["slow_attempts"]:
                time.sleep(0.3)
            return ctx["attempt"]

        config = {
            "retries": {"limit": params["limit"], "delay": 1000, "backoff": "constant"},
            "timeout": params["timeout"],
        }
        try:
            body = slow_sync if params.get("sync_body") else slow
            return {"result": await step.do("slow", body, config=config)}
        except WorkflowTimeoutError as exc:
            return _caught(exc)


# --- sleeps ------------------------------------------------------------------------


def _sleep_call(step: WorkflowStep, params: dict[str, Any]) -> Any:
    """Build the sleep the params ask for (values arrive as JSON)."""
    how, value = params["how"], params["value"]
    if how == "duration":
        return step.sleep("nap", value)
    if how == "timedelta":
        return step.sleep("nap", dt.timedelta(seconds=value))
    if how == "until datetime":
        return step.sleep_until("nap", dt.datetime.fromisoformat(value))
    return step.sleep_until("nap", value)  # epoch milliseconds


class SleeperAsync(WorkflowEntrypoint):
    """Params: how ("duration", "timedelta", "until datetime", "until epoch ms"), value."""

    name = "sleeper-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        bump("sleeper.run")
        before = await step.do("before", lambda: bump("before"))
        try:
            await _sleep_call(step, event.payload)
        except InvalidStepError as exc:
            return _caught(exc)
        after = await step.do("after", lambda: bump("after"))
        return {"before": before, "after": after}


class SleeperSync(WorkflowEntrypoint):
    name = "sleeper-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        bump("sleeper.run")
        before = step.do("before", lambda: bump("before"))
        try:
            _sleep_call(step, event.payload)
        except InvalidStepError as exc:
            return _caught(exc)
        after = step.do("after", lambda: bump("after"))
        return {"before": before, "after": after}


# --- events ------------------------------------------------------------------------


class EventsAsync(WorkflowEntrypoint):
    """Params: sleep_first (a duration or None), types (one wait per entry), timeout."""

    name = "events-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        params = event.payload or {}
        if params.get("block_first"):
            await step.do("block", blocking_body)
        if params.get("sleep_first"):
            await step.sleep("first a nap", params["sleep_first"])
        received = []
        for event_type in params.get("types", ["approval"]):
            try:
                if params.get("timeout"):
                    got = await step.wait_for_event(
                        "wait", type=event_type, timeout=params["timeout"]
                    )
                else:
                    got = await step.wait_for_event("wait", type=event_type)
            except WorkflowTimeoutError as exc:
                received.append(_caught(exc))
            else:
                received.append(_event_view(got))
        return received


class EventsSync(WorkflowEntrypoint):
    name = "events-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        params = event.payload or {}
        if params.get("block_first"):
            step.do("block", blocking_body)
        if params.get("sleep_first"):
            step.sleep("first a nap", params["sleep_first"])
        received = []
        for event_type in params.get("types", ["approval"]):
            try:
                if params.get("timeout"):
                    got = step.wait_for_event("wait", type=event_type, timeout=params["timeout"])
                else:
                    got = step.wait_for_event("wait", type=event_type)
            except WorkflowTimeoutError as exc:
                received.append(_caught(exc))
            else:
                received.append(_event_view(got))
        return received


class WaitTimeoutUncaught(WorkflowEntrypoint):
    name = "wait-timeout-uncaught"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        return step.wait_for_event("approval", type="approve", timeout="1 hour")


# --- parallel steps and races --------------------------------------------------------


class ParallelGather(WorkflowEntrypoint):
    name = "parallel-gather"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        bump("gather.run")
        # Both bodies must be in flight together, or the barrier breaks.
        barrier = threading.Barrier(2, timeout=1.0)

        def side(label: str) -> Callable[[], str]:
            def body() -> str:
                bump(label)
                barrier.wait()
                return label

            return body

        first = await asyncio.gather(step.do("left", side("left")), step.do("right", side("right")))
        await step.sleep("between", "1 hour")
        events = await asyncio.gather(
            step.wait_for_event("wait x", type="x"), step.wait_for_event("wait y", type="y")
        )
        last = await asyncio.gather(
            step.do("after 1", lambda: bump("after 1") and "a1"),
            step.do("after 2", lambda: bump("after 2") and "a2"),
        )
        return {"first": first, "events": [e["payload"] for e in events], "last": last}


class RaceFirstCompleted(WorkflowEntrypoint):
    name = "race-first-completed"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        bump("race.run")
        approval = asyncio.ensure_future(
            step.wait_for_event("approval", type="approve", timeout="7 days")
        )
        deadline = asyncio.ensure_future(step.sleep("deadline", "1 day"))
        done, pending = await asyncio.wait(
            {approval, deadline}, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        winner = "approval" if approval in done else "deadline"
        recorded = await step.do("record winner", lambda: bump("record winner") and winner)
        await step.sleep("cool down", "1 hour")
        done_value = await step.do("finish", lambda: bump("finish") and "finished")
        return {"winner": winner, "recorded": recorded, "finish": done_value}


# --- replay --------------------------------------------------------------------------


class ReplayAsync(WorkflowEntrypoint):
    name = "replay-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        bump("replay.run")
        first = await step.do("first", lambda: f"first ran {bump('first')} time(s)")
        await step.sleep("nap", "1 hour")
        got = await step.wait_for_event("go", type="go")
        second = await step.do("second", lambda: f"second ran {bump('second')} time(s)")
        return [first, got["payload"], second]


class ReplaySync(WorkflowEntrypoint):
    name = "replay-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        bump("replay.run")
        first = step.do("first", lambda: f"first ran {bump('first')} time(s)")
        step.sleep("nap", "1 hour")
        got = step.wait_for_event("go", type="go")
        second = step.do("second", lambda: f"second ran {bump('second')} time(s)")
        return [first, got["payload"], second]


def failing_once() -> None:
    bump("fails")
    raise PaymentDeclinedError(f"declined (body run {CALLS['fails']})")


NO_RETRY = {"retries": {"limit": 0, "delay": 0}}


class ReplayFailedAsync(WorkflowEntrypoint):
    name = "replay-failed-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        bump("replay-failed.run")
        try:
            await step.do("fails", failing_once, config=NO_RETRY)
        except PaymentDeclinedError as exc:
            caught = _caught(exc)
        await step.sleep("nap", "1 hour")
        return caught


class ReplayFailedSync(WorkflowEntrypoint):
    name = "replay-failed-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        bump("replay-failed.run")
        try:
            step.do("fails", failing_once, config=NO_RETRY)
        except PaymentDeclinedError as exc:
            caught = _caught(exc)
        step.sleep("nap", "1 hour")
        return caught


def counted_fetch(ctx: dict[str, Any]) -> str:
    bump(f"fetch {ctx['step']['count']}")
    return f"fetch number {ctx['step']['count']}"


class SameNameAsync(WorkflowEntrypoint):
    name = "same-name-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        first = await step.do("fetch", counted_fetch)
        second = await step.do("fetch", counted_fetch)
        await step.sleep("fetch", "1 minute")  # same name, another type: a third step
        return [first, second]


class SameNameSync(WorkflowEntrypoint):
    name = "same-name-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        first = step.do("fetch", counted_fetch)
        second = step.do("fetch", counted_fetch)
        step.sleep("fetch", "1 minute")
        return [first, second]


class CodeChange(WorkflowEntrypoint):
    """SWITCH["code-change"] rewrites run() between activations."""

    name = "code-change"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        change = SWITCH.get("code-change")
        step.do("charge card" if change == "renamed step" else "charge", lambda: bump("charge"))
        step.sleep("nap", "1 hour")
        if change == "removed wait":
            return "done"
        step.wait_for_event(
            "approval", type="confirm" if change == "changed event type" else "approve"
        )
        return "done"


# --- limits --------------------------------------------------------------------------


class NamedStep(WorkflowEntrypoint):
    """Runs a step named params["name"] ("{NUL}" stands for a NUL, which JSON cannot store)."""

    name = "named-step"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        step_name = event.payload["name"].replace("{NUL}", "\x00")
        try:
            return step.do(step_name, lambda: bump("named") and "ran")
        except InvalidStepError as exc:
            return _caught(exc)


class BadOutput(WorkflowEntrypoint):
    """params["kind"]: "object", "NUL", "over 1 MiB" or "exactly 1 MiB"."""

    name = "bad-output"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        kind = event.payload["kind"]

        def produce() -> Any:
            bump("produce")
            if kind == "object":
                return {"when": object()}
            if kind == "NUL":
                return "a NUL \x00 character"
            # A JSON string is its characters plus two quotes.
            size = 1024 * 1024 - 2 + (1 if kind == "over 1 MiB" else 0)
            return "x" * size

        config = {"retries": {"limit": 3, "delay": "1 second"}}
        value = step.do("produce", produce, config=config)
        return len(value)


class ManySteps(WorkflowEntrypoint):
    """A sleep, then params["steps"] steps, stopping at StepLimitExceededError."""

    name = "many-steps"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        step.sleep("nap", "1 second")
        step.wait_for_event("go", type="go", timeout="1 minute")
        done = []
        for number in range(1, event.payload["steps"] + 1):
            try:
                done.append(step.do(f"step {number}", lambda n=number: n))
            except StepLimitExceededError as exc:
                return {"done": done, **_caught(exc)}
        return {"done": done}


# --- lifecycle -------------------------------------------------------------------------


def blocking_body() -> str:
    """On its first run, holds the step until the test sets GATES["release"]."""
    if bump("block") == 1:
        GATES["started"].set()
        if not GATES["release"].wait(5):
            raise RuntimeError("the test never released the step")
    return "unblocked"


class BlockingSync(WorkflowEntrypoint):
    name = "blocking-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        first = step.do("block", blocking_body)
        second = step.do("next", lambda: bump("next") and "next ran")
        return [first, second]


class BlockingAsync(WorkflowEntrypoint):
    name = "blocking-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        first = await step.do("block", blocking_body)
        second = await step.do("next", lambda: bump("next") and "next ran")
        return [first, second]


class Restartable(WorkflowEntrypoint):
    """Three steps; params["then"]: "complete", "fail" or "sleep" after the second."""

    name = "restartable"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        s1 = step.do("s1", lambda: f"s1 run {bump('s1')}")
        s2 = step.do("s2", lambda: f"s2 run {bump('s2')}")
        then = event.payload["then"]
        if then == "fail":
            raise PaymentDeclinedError("declined after s2")
        if then == "sleep":
            step.sleep("nap", "1 hour")
        s3 = step.do("s3", lambda: f"s3 run {bump('s3')}")
        return [s1, s2, s3]


class StatusProbe(WorkflowEntrypoint):
    """Reads its own status from inside a step (status "running"), then sleeps."""

    name = "status-probe"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        def probe() -> str:
            binding = get_workflow(event.workflow_name, account=event.payload["account"])
            return binding.get(event.instance_id).status()["status"]

        seen = step.do("probe", probe)
        step.sleep("nap", "1 hour")
        if event.payload.get("fail"):
            raise PaymentDeclinedError("failing on purpose")
        return seen


class RaisesInRun(WorkflowEntrypoint):
    """Raises params["error"] from run() itself, outside any step."""

    name = "raises-in-run"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        step.do("fine", lambda: "fine")
        raise ERRORS[event.payload["error"]]("raised outside any step")


def burn_cpu() -> str:
    """Busy for 30 ms of this thread's CPU time."""
    started = time.thread_time()
    while time.thread_time() - started < 0.03:
        pass
    return "burnt"


def idle() -> str:
    time.sleep(0.05)
    return "rested"


class MeteredAsync(WorkflowEntrypoint):
    name = "metered-async"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        return [await step.do("burn", burn_cpu), await step.do("idle", idle)]


class MeteredSync(WorkflowEntrypoint):
    name = "metered-sync"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        return [step.do("burn", burn_cpu), step.do("idle", idle)]


class BadSignature(WorkflowEntrypoint):
    """A step function whose parameter is not named ctx."""

    name = "bad-signature"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        def needs_order(order: dict[str, Any]) -> str:
            bump("needs_order")
            return "ran"

        try:
            return step.do("takes order", needs_order)
        except InvalidStepError as exc:
            return _caught(exc)


class BadRunOutput(WorkflowEntrypoint):
    name = "bad-run-output"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        step.do("fine", lambda: "fine")
        return {"created": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}


class TimedeltaConfig(WorkflowEntrypoint):
    """A config whose retry delay and timeout are timedeltas; the first attempt fails."""

    name = "timedelta-config"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> Any:
        config = {
            "retries": {"limit": 1, "delay": dt.timedelta(seconds=3), "backoff": "constant"},
            "timeout": dt.timedelta(minutes=1, milliseconds=500),
        }
        return step.do("timed", flaky_body({"fail_times": 1}), config=config)
