"""Runaway step bodies and slow run() code, on real Celery workers (issue 10 items 5 and 6).

Given a step body that spins, or is stuck in a C call, past its timeout or
its plan's CPU limit, then the attempt fails while the body runs, its CPU is
billed, and the worker's processes stop burning CPU soon after (the body is
stopped, or the pool child holding it is replaced). Given run() sleeping
longer than the lease between two steps, then no step runs twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration import ledger
from tests.integration.conftest import LEASE_SECONDS, Stack, wait_for
from workflows_app import services
from workflows_app.billing.plans import plan_named
from workflows_app.engine import registry
from workflows_app.models import Instance, StepAttempt

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MODULES = "tests.integration.workflows,tests.integration.runaway_workflows"
TICKS = os.sysconf("SC_CLK_TCK")


@pytest.fixture
def runaway(stack: Stack, settings: Any) -> Iterator[Stack]:
    settings.WORKFLOW_MODULES = MODULES.split(",")
    registry.reset()
    for name in ("itest-spin", "itest-slow-run"):
        services.workflow_enable(account=stack.account, name=name)
    yield stack
    registry.reset()


def _on_plan(stack: Stack, plan: str) -> None:
    stack.account.plan = plan_named(plan)
    stack.account.save(update_fields=["plan"])


def _children_cpu_ticks(parent: int) -> dict[int, int]:
    """utime + stime of every child process of ``parent`` (the worker's pool children)."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == parent:  # ppid
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return ticks


def _cpu_seconds_burned(parent: int, window: float) -> float:
    """CPU the worker's children used during ``window`` seconds from now."""
    before = _children_cpu_ticks(parent)
    time.sleep(window)
    after = _children_cpu_ticks(parent)
    return sum(t - before.get(pid, 0) for pid, t in after.items()) / TICKS


def _output(instance: Instance) -> Any:
    return Instance.objects.values_list("output", flat=True).get(pk=instance.pk)


def _finished(stack: Stack, instance: Instance, timeout: float) -> None:
    wait_for(lambda: stack.status(instance) in ("complete", "errored"), timeout=timeout)


def test_a_timed_out_spinning_body_stops_burning_cpu_and_is_billed(runaway: Stack):
    stack = runaway
    _on_plan(stack, "paid")  # no CPU limit: the timeout stops it
    stack.start_worker("w1", WORKFLOW_MODULES=MODULES)
    stack.start_scheduler(WORKFLOW_MODULES=MODULES)

    # given a step spinning forever, timeout 2 s, one retry
    instance, key = stack.create("itest-spin", timeout="2 seconds", retries=1)
    _finished(stack, instance, timeout=60)

    # then both attempts timed out, each billed for the CPU it burned
    assert _output(instance) == {"error": "WorkflowTimeoutError"}
    attempts = list(StepAttempt.objects.filter(step__instance=instance).order_by("number"))
    assert [a.timed_out for a in attempts] == [True, True]
    assert all(a.cpu_ms > 0 for a in attempts)
    assert ledger.count(key, "spin") == 2
    # and the worker's processes stop burning CPU (two spinning threads burned
    # about a core before the fix, minutes after the instance errored)
    time.sleep(1)
    burned = _cpu_seconds_burned(stack.processes["w1"].pid, window=3)
    assert burned < 0.5, f"the worker's pool burned {burned:.2f} s of CPU in 3 s, idle"


def test_a_free_plan_step_over_its_cpu_limit_fails_while_it_runs(runaway: Stack):
    stack = runaway
    _on_plan(stack, "free")  # 10 ms of CPU per step
    stack.start_worker("w1", WORKFLOW_MODULES=MODULES)
    stack.start_scheduler(WORKFLOW_MODULES=MODULES)

    # given a step spinning forever with a 60 s timeout
    instance, _key = stack.create("itest-spin", timeout="60 seconds")
    _finished(stack, instance, timeout=40)

    # then it failed on the CPU limit, long before its timeout
    assert _output(instance) == {"error": "CpuLimitExceededError"}
    attempt = StepAttempt.objects.get(step__instance=instance)
    assert attempt.error_name == "CpuLimitExceededError"
    assert attempt.cpu_ms > 10
    assert attempt.wall_ms < 30_000
    time.sleep(1)
    burned = _cpu_seconds_burned(stack.processes["w1"].pid, window=3)
    assert burned < 0.5, f"the worker's pool burned {burned:.2f} s of CPU in 3 s, idle"


def test_a_pool_child_left_holding_a_body_it_cannot_stop_is_replaced(runaway: Stack):
    stack = runaway
    _on_plan(stack, "paid")
    stack.start_worker("w1", concurrency=1, WORKFLOW_MODULES=MODULES)
    stack.start_scheduler(WORKFLOW_MODULES=MODULES)

    # given a body blocked in a C call for 60 s, timeout 1 s
    instance, key = stack.create("itest-spin", stuck=True, timeout="1 second")
    _finished(stack, instance, timeout=30)
    assert _output(instance) == {"error": "WorkflowTimeoutError"}
    child = int(ledger.entries(key, "stuck")[0]["pid"])

    # then the pool child that holds it exits cleanly, and a new one serves
    wait_for(lambda: not Path(f"/proc/{child}").exists(), timeout=30, interval=0.2)
    assert "recycling this pool process" in stack.log("w1")
    assert "exited with" not in stack.log("w1")  # billiard's message for an abnormal exit
    after, after_key = stack.create("itest-one-step")
    stack.wait_status(after, "complete", timeout=30)
    assert int(ledger.entries(after_key, "only")[0]["pid"]) != child


def test_run_sleeping_longer_than_the_lease_between_steps_runs_no_step_twice(runaway: Stack):
    stack = runaway
    stack.start_worker("w1", WORKFLOW_MODULES=MODULES)
    stack.start_worker("w2", WORKFLOW_MODULES=MODULES)
    stack.start_scheduler(WORKFLOW_MODULES=MODULES)

    # given run() sleeping 2.5 leases between "before" and "after", with a
    # scheduler re-sending instances whose lease expired and a second worker
    instance, key = stack.create("itest-slow-run", sleep=LEASE_SECONDS * 2.5)

    # then the instance completes, each step having run exactly once
    stack.wait_status(instance, "complete", timeout=60)
    assert _output(instance) == ["before", "after"]
    assert ledger.count(key, "before") == 1
    assert ledger.count(key, "after") == 1
    assert not StepAttempt.objects.filter(error_name="WorkerLostError").exists()
