"""The soak's workflows, registered in worker processes through ``WORKFLOW_MODULES=soak.workflows``.

Every step body appends ``instance step attempt enter|exit pid time proc`` to the
ledger file named by ``WFSOAK_LEDGER``, with ``O_APPEND`` and one ``write`` per
line, *before* doing anything else: a body that is killed, stopped, partitioned
or fenced still leaves its ``enter`` line, so every execution is counted, not
guessed. ``time`` is the host's real clock (``time.time()``), never the engine's.

Clock skew: when ``WFSOAK_CLOCK_SKEW_SECONDS`` is set, importing this module
shifts the engine clock of the importing process by that many seconds
(``workflows_app.engine.clock.set_clock``). Worker pool children import it at
their first activation; ``soak/launch.py`` imports it before running any other
management command (the scheduler).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from workflows_app.engine import clock
from workflows_app.sdk import WorkflowEntrypoint, WorkflowTimeoutError

SKEW_SECONDS = float(os.environ.get("WFSOAK_CLOCK_SKEW_SECONDS") or 0)
PROC = os.environ.get("WFSOAK_PROC", "?")
LEDGER = os.environ.get("WFSOAK_LEDGER", "")

if SKEW_SECONDS:
    _skew = dt.timedelta(seconds=SKEW_SECONDS)
    clock.set_clock(lambda: timezone.now() + _skew)
    sys.stderr.write(f"soak: engine clock of pid {os.getpid()} skewed by {SKEW_SECONDS:+.0f}s\n")

# Step retries: the flaky first attempt is retried quickly; the timeout is far
# above any fault's length (SIGSTOP, partition), so faults, not timeouts, decide.
STEP_CONFIG: dict[str, Any] = {
    "retries": {"limit": 4, "delay": "1 second", "backoff": "constant"},
    "timeout": "60 seconds",
}
GATE_TYPE = "go"
DECISION_TYPE = "review-decision"


def ledger(instance: str, step: str, attempt: int, what: str) -> None:
    """Append one line to the ledger (atomic: O_APPEND, one write of < PIPE_BUF bytes)."""
    if not LEDGER:
        return
    line = f"{instance} {step} {attempt} {what} {os.getpid()} {time.time():.6f} {PROC}\n"
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def body(
    instance: str, name: str, seconds: float, *, fail_first: bool = False
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A step body: ledger enter, sleep (not spin: CPU is scarce), ledger exit."""

    def run(ctx: dict[str, Any]) -> dict[str, Any]:
        attempt = int(ctx["attempt"])
        ledger(instance, name, attempt, "enter")
        time.sleep(seconds)
        ledger(instance, name, attempt, "exit")
        if fail_first and attempt == 1:
            raise RuntimeError(f"soak: the first attempt of {name} fails on purpose")
        return {"step": name, "attempt": attempt, "pid": os.getpid(), "skew": SKEW_SECONDS}

    return run


def _gate_result(got: dict[str, Any] | None) -> dict[str, Any] | None:
    if got is None:
        return None
    stamp = got["timestamp"]
    return {"payload": got["payload"], "timestamp": getattr(stamp, "isoformat", lambda: stamp)()}


class SoakChain(WorkflowEntrypoint):
    """Sync ``run``: A (flaky) → sleep → B (slow) → wait for ``go`` (timeout caught) → C."""

    name = "soak-chain"

    def run(self, event: Any, step: Any) -> Any:
        p = event.payload
        iid = event.instance_id
        step.do("A", body(iid, "A", 0.2, fail_first=p["flaky"]), config=STEP_CONFIG)
        step.sleep("nap", p["nap_ms"])
        step.do("B", body(iid, "B", p["b_seconds"]), config=STEP_CONFIG)
        try:
            got = step.wait_for_event("gate", type=GATE_TYPE, timeout=p["gate_ms"])
        except WorkflowTimeoutError:
            got = None
        step.do("C", body(iid, "C", 0.1), config=STEP_CONFIG)
        return {"gate": _gate_result(got)}


class SoakFanout(WorkflowEntrypoint):
    """Async ``run``: A (flaky) → gather(B1, B2, B3) → sleep → wait for ``go`` → C."""

    name = "soak-fanout"

    async def run(self, event: Any, step: Any) -> Any:
        p = event.payload
        iid = event.instance_id
        await step.do("A", body(iid, "A", 0.2, fail_first=p["flaky"]), config=STEP_CONFIG)
        await asyncio.gather(
            *(
                step.do(name, body(iid, name, p["b_seconds"] * factor), config=STEP_CONFIG)
                for name, factor in (("B1", 1.0), ("B2", 0.5), ("B3", 0.25))
            )
        )
        await step.sleep("nap", p["nap_ms"])
        try:
            got = await step.wait_for_event("gate", type=GATE_TYPE, timeout=p["gate_ms"])
        except WorkflowTimeoutError:
            got = None
        await step.do("C", body(iid, "C", 0.1), config=STEP_CONFIG)
        return {"gate": _gate_result(got)}


class SoakApproval(WorkflowEntrypoint):
    """A → wait for a human decision (``review-decision``) → after; returns what it received."""

    name = "soak-approval"

    def run(self, event: Any, step: Any) -> Any:
        p = event.payload
        iid = event.instance_id
        step.do("A", body(iid, "A", 0.2), config=STEP_CONFIG)
        try:
            got = step.wait_for_event("decide", type=DECISION_TYPE, timeout=p["decide_ms"])
        except WorkflowTimeoutError:
            got = None
        step.do("after", body(iid, "after", 0.1), config=STEP_CONFIG)
        if got is None:
            return {"decision": None, "by": None}
        payload = got["payload"] or {}
        return {"decision": payload.get("decision"), "by": payload.get("by")}


WORKFLOWS = [SoakChain.name, SoakFanout.name, SoakApproval.name]
