"""run() that is slow between two steps keeps its lease, and never puts a finished step at risk.

Issue 10 item 5 (fault review bug 8): a step's success write is held back to
be committed with the next write, and the lease used to be renewed only while
a step body ran. A run() blocking outside a step for longer than the lease
lost the lease, and the finished step, never committed, ran again elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.engine import runaway_workflows as rw
from workflows_app.engine import registry
from workflows_app.engine.journal import store
from workflows_app.models import Instance, StepRecord
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_RUNS = ["runaway-slow-run-sync", "runaway-slow-run-async"]


@pytest.fixture(autouse=True)
def _runaway_workflows(_engine_workflows: None, settings: Any) -> Iterator[None]:
    settings.WORKFLOW_MODULES = [*settings.WORKFLOW_MODULES, "tests.engine.runaway_workflows"]
    registry.reset()
    rw.reset()
    yield
    rw.unblock.set()
    rw.reset()


def _wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def _create_in_background(binding: Any, params: dict[str, Any]) -> threading.Thread:
    """The inline dispatcher runs the activation in the thread that creates the instance."""
    thread = threading.Thread(target=binding.create, kwargs={"id": "slow", "params": params})
    thread.start()
    assert rw.blocked.wait(timeout=10), "run() never reached the code between its steps"
    return thread


def _before_status() -> str:
    return StepRecord.objects.values_list("status", flat=True).get(name="before")


@pytest.mark.parametrize("name", SLOW_RUNS)
def test_a_finished_step_is_committed_while_run_is_still_busy_after_it(account, name):
    # given run() blocked after its first step, held there by the test
    binding = get_workflow(name, account=account)
    thread = _create_in_background(binding, {})

    # then the step's success reaches the database while run() is still blocked:
    # a crash now would not run it again
    committed = _wait_for(lambda: _before_status() == "succeeded", timeout=10)
    rw.unblock.set()
    thread.join(timeout=10)

    assert committed, f"the finished step is still {_before_status()!r} in the journal"
    assert binding.get("slow").status()["output"] == ["before done", "after done"]
    assert rw.RUNS == {"before": 1, "after": 1}


@pytest.mark.parametrize("name", SLOW_RUNS)
def test_run_blocking_longer_than_the_lease_keeps_it_and_runs_no_step_twice(
    account, name, settings
):
    settings.WORKFLOWS_LEASE_SECONDS = 1
    binding = get_workflow(name, account=account)

    # given run() sleeping 3.5 leases between two steps
    thread = _create_in_background(binding, {"sleep": 3.5})
    pk = Instance.objects.get(instance_id="slow").pk

    # when another worker tries to take the instance meanwhile (what the
    # scheduler's re-send of an expired lease leads to), it cannot
    claims = []
    while thread.is_alive():
        claims.append(store.claim(pk, lease_seconds=1))
        thread.join(timeout=0.3)

    assert len(claims) >= 5
    assert set(claims) == {None}
    assert binding.get("slow").status()["output"] == ["before done", "after done"]
    assert rw.RUNS == {"before": 1, "after": 1}
