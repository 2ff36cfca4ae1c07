"""Fault tests against real worker processes, PostgreSQL and Redis (reliability.md §6).

Given a workflow whose step bodies record every entry in the ledger, when a
fault hits a worker, the broker or the lifecycle, then the ledger and the
journal show exactly which bodies ran, and the instance ends with no manual
action.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import pytest

from tests.billing.journal import journal, meters
from tests.integration import ledger
from tests.integration.conftest import LEASE_SECONDS, MAX_DELIVERIES, REDISPATCH_SECONDS, wait_for
from workflows_app import services
from workflows_app.engine.dispatch import BaseDispatcher
from workflows_app.models import Instance, StepAttempt, StepRecord
from workflows_app.tasks import advance_instance

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# How long a dead worker's instance may take to be picked up again: its lease
# (renewed by a heartbeat while it lived) runs out, then the scheduler polls.
RECOVERY = LEASE_SECONDS + 30


def _attempts(instance: Instance, name: str) -> list[tuple[int, bool | None, str]]:
    step = StepRecord.objects.get(instance=instance, name=name)
    return list(
        StepAttempt.objects.filter(step=step)
        .order_by("number")
        .values_list("number", "success", "error_name")
    )


def _output(instance: Instance) -> Any:
    return Instance.objects.values_list("output", flat=True).get(pk=instance.pk)


def test_kill_9_of_a_worker_mid_step_reruns_only_that_step(stack):
    stack.start_worker("w1")
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", block_first=True, b_timeout="3 seconds")

    entered = wait_for(lambda: ledger.entries(key, "B"), timeout=20)
    # The pool child running B dies; its message is requeued but the lease is live.
    os.kill(entered[0]["pid"], signal.SIGKILL)

    stack.wait_status(instance, "complete", timeout=RECOVERY)
    assert ledger.count(key, "A") == 1
    assert [e["attempt"] for e in ledger.entries(key, "B")] == [1, 2]
    assert ledger.count(key, "C") == 1
    assert _output(instance) == {"a": "A", "b": "B-attempt-2", "c": "C"}
    assert _attempts(instance, "B") == [(1, False, "WorkerLostError"), (2, True, "")]
    assert meters(stack.account) == journal(stack.account)


def test_a_worker_stalled_past_its_lease_has_its_late_write_fenced(stack):
    stack.start_worker("w1", concurrency=1)
    stack.start_worker("w2", concurrency=1)
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", b_seconds=1.5, b_timeout="3 seconds")

    first = wait_for(lambda: ledger.entries(key, "B"), timeout=20)[0]
    stalled = stack.group_of(first["pgid"])
    stack.signal_group(stalled, signal.SIGSTOP)
    try:
        # The lease runs out; the scheduler hands the instance to the other worker.
        stack.wait_status(instance, "complete", timeout=RECOVERY)
    finally:
        stack.signal_group(stalled, signal.SIGCONT)

    # The stalled worker wakes, finishes its body and tries to record it: fenced.
    wait_for(lambda: "lease lost" in stack.log(stalled), timeout=20)
    assert [e["attempt"] for e in ledger.entries(key, "B")] == [1, 2]
    assert ledger.entries(key, "B")[1]["pgid"] != first["pgid"]
    assert ledger.count(key, "C") == 1
    assert _output(instance) == {"a": "A", "b": "B-attempt-2", "c": "C"}
    assert _attempts(instance, "B") == [(1, False, "WorkerLostError"), (2, True, "")]
    assert StepRecord.objects.get(instance=instance, name="B").output == "B-attempt-2"


def test_a_flushed_broker_loses_no_instance(stack):
    stack.start_scheduler()  # no worker yet: every message waits in Redis
    created = [stack.create("itest-one-step") for _ in range(20)]
    wait_for(lambda: len(stack.queued_messages()) >= 20, timeout=10)

    stack.redis.flushdb()  # FLUSHALL, limited to this test's Redis database
    assert stack.queued_messages() == []
    started = time.monotonic()
    stack.start_worker("w1")

    for instance, _ in created:
        stack.wait_status(instance, "complete", timeout=REDISPATCH_SECONDS + 30)
    assert time.monotonic() - started < REDISPATCH_SECONDS + 30
    assert [ledger.count(key, "only") for _, key in created] == [1] * 20


def test_the_same_message_delivered_many_times_runs_each_body_once(stack):
    instance, key = stack.create("itest-three-steps", b_seconds=1)
    for _ in range(10):
        advance_instance.delay(instance.pk)
    for _ in range(2):
        advance_instance.apply_async((instance.pk,), task_id="same-task-id")
    assert len(stack.queued_messages()) == 13

    stack.start_worker("w1", wait=False)
    stack.start_worker("w2", wait=False)
    stack.wait_status(instance, "complete", timeout=40)
    assert [ledger.count(key, step) for step in ("A", "B", "C")] == [1, 1, 1]
    assert _attempts(instance, "B") == [(1, True, "")]
    wait_for(lambda: stack.queued_messages() == [], timeout=10)
    assert meters(stack.account) == journal(stack.account)


def test_a_sleep_longer_than_the_visibility_timeout_wakes_exactly_once(stack):
    # Redis re-delivers any message unacked for 1 s: the running B (2 s) and the
    # 5 s sleep both outlive it. Timers live in the database, not in ETAs.
    stack.start_worker("w1", CELERY_VISIBILITY_TIMEOUT="1")
    stack.start_worker("w2", CELERY_VISIBILITY_TIMEOUT="1")
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", b_seconds=2, sleep="5 seconds")

    etas = []
    deadline = time.monotonic() + 40
    while stack.status(instance) != "complete" and time.monotonic() < deadline:
        raw = stack.queued_messages() + list(stack.redis.hvals("unacked"))
        for message in raw:
            decoded = json.loads(message)
            body = decoded[0] if isinstance(decoded, list) else decoded
            etas.append(body.get("headers", {}).get("eta"))
        time.sleep(0.2)

    assert stack.status(instance) == "complete"
    assert [ledger.count(key, step) for step in ("A", "B", "C")] == [1, 1, 1]
    nap = StepRecord.objects.get(instance=instance, name="nap")
    assert nap.status == "succeeded"
    assert nap.ended_at >= nap.wake_at
    assert set(etas) <= {None}


def test_terminate_during_a_running_step_runs_no_later_step(stack):
    stack.start_worker("w1")
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", block_first=True)
    wait_for(lambda: ledger.entries(key, "B"), timeout=20)

    services.instance_terminate(instance=instance, actor="user:test")
    ledger.raise_flag(key, "release")  # B's body now returns: its result is fenced off

    wait_for(lambda: "lease lost" in stack.log("w1"), timeout=20)
    time.sleep(REDISPATCH_SECONDS + 1)  # give the scheduler every chance to resurrect it
    assert stack.status(instance) == "terminated"
    assert ledger.count(key, "B") == 1
    assert ledger.count(key, "C") == 0
    assert StepRecord.objects.get(instance=instance, name="B").output is None
    assert not StepRecord.objects.filter(instance=instance, name="C").exists()


def test_a_poison_instance_is_errored_after_max_deliveries(stack):
    # Each replay kills its pool child: the broker would requeue it forever.
    stack.start_worker("w1")
    stack.start_scheduler()
    instance, key = stack.create("itest-kills-its-worker")

    stack.wait_status(instance, "errored", timeout=MAX_DELIVERIES * (LEASE_SECONDS + 5) + 20)
    error = Instance.objects.values_list("error", flat=True).get(pk=instance.pk)
    assert f"picked up {MAX_DELIVERIES} times" in error["message"]
    assert ledger.count(key, "replay") == MAX_DELIVERIES
    assert ledger.count(key, "unreachable") == 0


def test_a_step_longer_than_the_lease_keeps_it(stack):
    # The instance lease is 3 s and B runs for 9 s: the running worker keeps
    # renewing it, so a second worker and the scheduler leave the instance alone.
    stack.start_worker("w1", concurrency=1)
    stack.start_worker("w2", concurrency=1)
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", b_seconds=3 * LEASE_SECONDS)

    stack.wait_status(instance, "complete", timeout=3 * LEASE_SECONDS + 30)
    assert [ledger.count(key, step) for step in ("A", "B", "C")] == [1, 1, 1]
    assert _attempts(instance, "B") == [(1, True, "")]


def test_a_worker_stopped_with_sigterm_mid_step_hands_the_step_over(stack):
    # A rolling deploy: SIGTERM (remapped to Celery's soft shutdown, as in
    # docker/compose.yaml) while B runs. The worker exits without finishing B;
    # another worker re-runs B once the lease expires, and nothing else re-runs.
    stack.start_worker("w1", REMAP_SIGTERM="SIGQUIT", CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT="1")
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", block_first=True)
    wait_for(lambda: ledger.entries(key, "B"), timeout=20)

    stack.processes["w1"].send_signal(signal.SIGTERM)
    wait_for(lambda: stack.processes["w1"].poll() is not None, timeout=20)
    stack.start_worker("w2")

    stack.wait_status(instance, "complete", timeout=RECOVERY)
    assert [ledger.count(key, step) for step in ("A", "C")] == [1, 1]
    assert [e["attempt"] for e in ledger.entries(key, "B")] == [1, 2]
    assert _output(instance) == {"a": "A", "b": "B-attempt-2", "c": "C"}


class BrokerDownDispatcher(BaseDispatcher):
    """What the doorbell meets while Redis is unreachable."""

    def dispatch(self, instance_pks):
        raise ConnectionError("Error 111 connecting to redis: Connection refused")


def test_instances_created_while_the_broker_is_down_run_once_it_is_back(stack, settings):
    settings.WORKFLOWS_DISPATCHER = f"{__name__}.BrokerDownDispatcher"
    created = [stack.create("itest-one-step") for _ in range(5)]  # no error reaches the caller
    assert stack.queued_messages() == []

    stack.start_worker("w1")
    stack.start_scheduler()  # the committed rows are the outbox
    for instance, _ in created:
        stack.wait_status(instance, "complete", timeout=REDISPATCH_SECONDS + 30)
    assert [ledger.count(key, "only") for _, key in created] == [1] * 5
