"""A step body that times out or goes over the plan's CPU limit is stopped, and billed.

Issue 10 item 6 (fault review bug 5): a timed-out body used to keep spinning
in its (unkillable) thread, billed 0 CPU ms, and the Free plan's per-step CPU
limit was only checked on a body that returned, so a spinning one bypassed it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.engine import runaway_workflows as rw
from workflows_app import testing
from workflows_app.engine import registry, watchdog
from workflows_app.models import StepAttempt
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _runaway_workflows(_engine_workflows: None, settings: Any) -> Iterator[None]:
    settings.WORKFLOW_MODULES = [*settings.WORKFLOW_MODULES, "tests.engine.runaway_workflows"]
    registry.reset()
    rw.reset()
    yield
    rw.reset()


@pytest.fixture
def free_account(transactional_db: None) -> Any:
    return testing.make_account(name="Free tier", plan="free")


def _run(account: Any, name: str, params: dict[str, Any]) -> Any:
    """Create the instance and let the inline dispatcher run it, in a thread we can give up on."""
    binding = get_workflow(name, account=account)
    errors: list[BaseException] = []

    def create() -> None:
        try:
            binding.create(id="runaway", params=params)
        except BaseException as exc:
            errors.append(exc)

    # A daemon: on the old code an activation whose body never awaits never ends.
    thread = threading.Thread(target=create, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the activation never ended: the runaway body held it"
    assert errors == []
    return binding.get("runaway").status()


def _still_spinning(key: str) -> bool:
    before = rw.SPINS[key]
    time.sleep(0.5)
    return rw.SPINS[key] != before


TIMED_OUT = [
    ("runaway-sync", {"body": "spin"}),
    ("runaway-async", {"body": "spin"}),  # a sync body on a thread, from async def run
    ("runaway-async", {"async_body": "spin"}),  # a coroutine that never awaits
]


@pytest.mark.parametrize(("name", "params"), TIMED_OUT, ids=["sync", "async-thread", "coroutine"])
def test_a_timed_out_body_stops_spinning_and_its_cpu_is_billed(account, name, params):
    status = _run(account, name, {**params, "timeout": "1 second"})

    assert status["output"] == {"error": "WorkflowTimeoutError"}
    attempt = StepAttempt.objects.get()
    assert attempt.timed_out
    assert attempt.cpu_ms > 0  # what it burned until it was stopped
    assert not _still_spinning("spin")


def test_every_retry_of_a_timed_out_body_is_stopped(account, run_due):
    status = _run(account, "runaway-sync", {"body": "spin", "timeout": "1 second", "retries": 2})
    while status["status"] != "complete":  # the retry delays are tiny: due at once
        time.sleep(0.05)
        run_due()
        status = get_workflow("runaway-sync", account=account).get("runaway").status()

    assert status["output"] == {"error": "WorkflowTimeoutError"}
    assert rw.RUNS["spin"] == 3
    assert all(a.timed_out and a.cpu_ms > 0 for a in StepAttempt.objects.all())
    assert not _still_spinning("spin")


OVER_LIMIT = [
    ("runaway-sync", {"body": "spin"}),
    ("runaway-async", {"body": "spin"}),
    ("runaway-async", {"async_body": "spin"}),
    ("runaway-async", {"async_body": "spin-awaiting"}),
]


@pytest.mark.parametrize(
    ("name", "params"),
    OVER_LIMIT,
    ids=["sync", "async-thread", "coroutine", "coroutine-awaiting"],
)
def test_a_body_over_the_free_plans_cpu_limit_fails_while_it_runs(free_account, name, params):
    # given a body that would spin until its 20 s timeout, on the Free plan (10 ms of CPU a step)
    key = params.get("async_body") or params["body"]
    status = _run(free_account, name, {**params, "timeout": "20 seconds"})

    # then it fails with CpuLimitExceededError as soon as it passes the limit, not at the timeout
    assert status["output"] == {"error": "CpuLimitExceededError"}
    attempt = StepAttempt.objects.get()
    assert attempt.error_name == "CpuLimitExceededError"
    assert not attempt.timed_out
    assert attempt.cpu_ms > 10
    assert attempt.wall_ms < 15_000
    assert not _still_spinning(key)


@pytest.mark.parametrize(
    ("name", "coroutine"),
    [
        ("runaway-burns-cpu", False),
        ("runaway-burns-cpu-async", False),
        ("runaway-burns-cpu-async", True),
    ],
)
def test_a_body_that_would_end_over_the_limit_is_stopped_at_the_limit(
    free_account, name, coroutine
):
    status = _run(free_account, name, {"ms": 3000, "coroutine": coroutine})

    assert status["output"]["error"] == "CpuLimitExceededError"
    attempt = StepAttempt.objects.get()
    # Stopped near 10 ms, far from the 3 s the body would have burned to the end.
    assert 10 < attempt.cpu_ms < 1500


def test_a_step_within_the_limit_is_not_disturbed(free_account):
    status = _run(free_account, "runaway-burns-cpu", {"ms": 1})

    assert status["output"] == ["burned 1 ms", "after done"]


@pytest.fixture
def _untainted() -> Iterator[None]:
    watchdog._tainted.clear()
    yield
    watchdog._tainted.clear()


@pytest.mark.usefixtures("_untainted")
def test_a_body_that_cannot_be_stopped_taints_its_process(account, caplog):
    # given a body blocked in a C call for 10 s, which a request to stop cannot reach
    status = _run(account, "runaway-sync", {"body": "stuck-in-c", "timeout": "1 second"})
    assert status["output"] == {"error": "WorkflowTimeoutError"}

    # then once the grace period is over the process is marked tainted; not a
    # Celery prefork child, so it only says so (a pool child would be replaced)
    assert _wait(watchdog.tainted, timeout=20)
    assert "does not stop" in caplog.text


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False
