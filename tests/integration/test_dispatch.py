"""Dispatch with real processes: the database is the queue, Redis only carries doorbells.

Given real workers, a scheduler, PostgreSQL and Redis, when workers lag, die,
run on a skewed clock or lose the broker, then the queue never holds more
doorbells than there is due work, a dead worker's instance is taken again
about one lease later whatever the backlog, no live lease is stolen, and no
finished step runs again.
"""

from __future__ import annotations

import datetime as dt
import signal
import sys
import time
import uuid

import pytest

from tests.integration import ledger
from tests.integration.conftest import LEASE_SECONDS, QUEUE, wait_for
from workflows_app.models import StepAttempt, StepRecord

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _attempts(instance, name):
    step = StepRecord.objects.get(instance=instance, name=name)
    return list(
        StepAttempt.objects.filter(step=step)
        .order_by("number")
        .values_list("number", "success", "error_name")
    )


def test_with_no_worker_the_queue_never_holds_more_doorbells_than_due_instances(stack):
    stack.start_scheduler()  # no worker: every doorbell stays queued
    due = 30
    for _ in range(due):
        stack.create("itest-one-step")

    def watch(seconds: float) -> list[int]:
        lengths = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            lengths.append(stack.redis.llen(QUEUE))
            time.sleep(0.1)
        return lengths

    # Several scheduler rounds (polls of 0.1 s) and several lease lengths.
    lengths = watch(6)
    assert max(lengths) <= due
    assert lengths[-1] == due

    # Lost doorbells (a flushed broker) are rung again, still no more than due.
    stack.redis.flushdb()
    lengths = watch(4)
    assert max(lengths) <= due
    assert lengths[-1] == due


def test_a_killed_workers_instance_is_taken_again_about_a_lease_later_whatever_the_backlog(
    stack,
):
    stack.start_worker("w1", concurrency=1)
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", block_first=True)
    wait_for(lambda: ledger.entries(key, "B"), timeout=20)

    # A backlog behind it: due work enough for a long while on one slot, each
    # with its queued doorbell (stale copies, once other doorbells drained them).
    for _ in range(120):
        stack.create("itest-three-steps", b_seconds=0.15)
    stack.start_worker("w2", concurrency=1)

    stack.signal_group("w1", signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: len(ledger.entries(key, "B")) >= 2, timeout=120)
    recovery = time.monotonic() - killed

    # The lease (renewed each second while B ran) runs out, then w2's next claim takes it:
    # about a lease plus w2's current activation, whatever the backlog (the old
    # per-instance doorbells took 87 s here, behind the stale copies). The slack is
    # for a loaded 2-core CI machine, where one activation can take seconds.
    assert recovery < LEASE_SECONDS * 3 + 15
    stack.wait_status(instance, "complete", timeout=30)
    assert [e["attempt"] for e in ledger.entries(key, "B")] == [1, 2]
    assert ledger.count(key, "A") == 1
    assert ledger.count(key, "C") == 1


def _start_skewed(stack, name: str, seconds: float, argv: list[str]) -> None:
    stack._spawn(name, [sys.executable, "-m", "tests.integration.skewed", str(seconds), *argv], {})


def test_a_process_with_a_skewed_clock_steals_no_live_lease(stack):
    stack.start_worker("w1", concurrency=1)
    # The scheduler's host clock runs 30 s ahead (ten leases of 3 s): by its
    # own clock every live lease has long expired.
    _start_skewed(stack, "scheduler-skewed", 30, ["workflows_scheduler"])
    wait_for(lambda: "scheduler started" in stack.log("scheduler-skewed"), timeout=30)
    instance, key = stack.create("itest-three-steps", b_seconds=2 * LEASE_SECONDS)
    wait_for(lambda: ledger.entries(key, "B"), timeout=20)

    # A second worker, 30 s ahead too, free to take anything it judges expired.
    _start_skewed(
        stack,
        "w2-skewed",
        30,
        [
            "celery",
            "-A",
            "project",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--queues",
            QUEUE,
            "--without-mingle",
            "--without-gossip",
            "--hostname",
            f"w2-{uuid.uuid4().hex[:6]}@itest",
        ],
    )
    stack.wait_ready("w2-skewed")

    stack.wait_status(instance, "complete", timeout=2 * LEASE_SECONDS + 40)
    assert [ledger.count(key, step) for step in ("A", "B", "C")] == [1, 1, 1]
    assert _attempts(instance, "B") == [(1, True, "")]
    # The skewed worker alone takes new work, and the timers it sets are on the
    # database's clock: a 2 s sleep ends about 2 s later, not 32 s.
    stack.signal_group("w1", signal.SIGKILL)
    other, other_key = stack.create("itest-three-steps", sleep="2 seconds")
    stack.wait_status(other, "complete", timeout=20)
    assert [ledger.count(other_key, step) for step in ("A", "B", "C")] == [1, 1, 1]
    nap = StepRecord.objects.get(instance=other, name="nap")
    assert nap.wake_at - nap.started_at < dt.timedelta(seconds=3)  # not 32
    assert nap.wake_at <= nap.ended_at < nap.wake_at + dt.timedelta(seconds=10)
