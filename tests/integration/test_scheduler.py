"""The due-work queue on PostgreSQL: claiming, the scheduler's doorbells, and stalled pauses.

Given due instances, when several workers claim at once, then each instance
is taken by exactly one of them, the most overdue first; and the scheduler
rings a doorbell only for due work no queued doorbell covers.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time

import pytest
from django.db import connections
from django.db.models import F

from tests.integration import ledger
from tests.integration.conftest import LEASE_SECONDS, wait_for
from workflows_app import services
from workflows_app.engine import clock, scheduler
from workflows_app.engine.dispatch import BaseDispatcher
from workflows_app.engine.journal import queue, store
from workflows_app.models import Instance, InstanceStatus, StepAttempt, StepRecord

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class Recorder(BaseDispatcher):
    """Records what would be sent; ``depth`` plays the broker's queue."""

    sent: list[int] = []
    rung: list[int] = []
    depth = 0

    def dispatch(self, instance_pks):
        Recorder.sent.extend(instance_pks)

    def ring(self, count):
        Recorder.rung.append(count)
        Recorder.depth += count

    def queued(self):
        return Recorder.depth


@pytest.fixture
def recorded(stack, settings):
    """Dispatches are recorded, not sent: the test plays the workers and the broker."""
    settings.WORKFLOWS_DISPATCHER = f"{__name__}.Recorder"
    Recorder.sent, Recorder.rung, Recorder.depth = [], [], 0
    return Recorder.sent


def _later(seconds: float):
    """The test's clock and the database's, ``seconds`` ahead (on PostgreSQL too)."""
    at = clock.now() + dt.timedelta(seconds=seconds)
    clock.set_clock(lambda: at, database=True)


def test_concurrent_workers_claim_each_due_instance_once(stack, recorded):
    created = [stack.create("itest-one-step")[0].pk for _ in range(60)]
    barrier = threading.Barrier(3)
    taken: list[list[int]] = [[], [], []]

    def worker(index: int) -> None:
        try:
            barrier.wait()
            while (claimed := store.claim_next(lease_seconds=30)) is not None:
                taken[index].append(claimed[0])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = taken[0] + taken[1] + taken[2]
    assert sorted(everything) == sorted(created)
    assert store.claim_next(lease_seconds=30) is None


def test_the_most_overdue_instance_is_claimed_first_an_expired_lease_included(stack, recorded):
    old, _ = stack.create("itest-one-step")
    dead_token = store.claim(old.pk, lease_seconds=0.2)  # its worker dies mid-activation
    assert dead_token is not None
    younger = [stack.create("itest-one-step")[0].pk for _ in range(5)]

    first = store.claim_next(lease_seconds=30)
    assert first is not None
    assert first[0] == younger[0]  # the old one's lease is live

    time.sleep(0.3)  # the lease runs out on the database's clock
    again = store.claim_next(lease_seconds=30)
    assert again is not None
    assert again[0] == old.pk  # ahead of the younger due ones
    # The dead worker, should it wake, is fenced off.
    assert not store.renew_lease(instance_pk=old.pk, token=dead_token, lease_seconds=5)


def test_the_scheduler_rings_for_due_work_only_when_no_doorbell_waits(stack, recorded):
    for _ in range(3):
        stack.create("itest-one-step")
    assert len(recorded) == 3  # the creations' own doorbells
    Recorder.depth = 3
    _later(queue.DOORBELL_GRACE_SECONDS + 1)
    try:
        assert scheduler.dispatch_due() == 0  # three due, three queued
        Recorder.depth = 1
        assert scheduler.dispatch_due() == 0  # a doorbell waits: no worker slot is idle
        Recorder.depth = 0  # the broker was flushed
        assert scheduler.dispatch_due() == 3
        assert scheduler.dispatch_due() == 0
        assert store.claim_next(lease_seconds=30) is not None
        Recorder.depth = 0
        assert scheduler.dispatch_due() == 2  # two due, none queued
    finally:
        clock.set_clock(None)
    assert Recorder.rung == [3, 2]


def test_a_pause_pending_on_a_killed_worker_becomes_paused_and_resumes(stack):
    stack.start_worker("w1")
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", block_first=True)
    wait_for(lambda: ledger.entries(key, "B"), timeout=20)

    paused = services.instance_pause(instance=instance, actor="user:test")
    assert paused.status == InstanceStatus.WAITING_FOR_PAUSE
    stack.signal_group("w1", signal.SIGKILL)  # the whole worker, not just its child
    stack.wait_status(instance, "paused", timeout=LEASE_SECONDS + 20)

    services.instance_resume(instance=instance, actor="user:test")
    stack.start_worker("w2")
    stack.wait_status(instance, "complete", timeout=30)
    assert [e["attempt"] for e in ledger.entries(key, "B")] == [1, 2]
    assert ledger.count(key, "C") == 1
    step = StepRecord.objects.get(instance=instance, name="B")
    assert list(
        StepAttempt.objects.filter(step=step).order_by("number").values_list("number", "success")
    ) == [(1, False), (2, True)]
    assert Instance.objects.get(pk=instance.pk).output["b"] == "B-attempt-2"


def test_the_embedded_filesystem_broker_runs_timers_end_to_end(stack, recorded, tmp_path):
    # No Redis: the default broker, kombu's filesystem transport, with real
    # worker and scheduler processes (the same task code path, not eager mode).
    embedded = {"CELERY_BROKER_URL": "filesystem://", "CELERY_BROKER_DIR": str(tmp_path / "q")}
    stack.start_worker("w1", **embedded)
    stack.start_scheduler(**embedded)
    instance, key = stack.create("itest-three-steps", sleep="1 second")

    stack.wait_status(instance, "complete", timeout=30)
    assert [ledger.count(key, step) for step in ("A", "B", "C")] == [1, 1, 1]
    assert recorded == [instance.pk]  # this process only recorded; the scheduler sent it


def test_the_scheduler_does_not_ring_again_for_what_the_doorbell_just_rang(stack):
    stack.start_scheduler()  # no worker: doorbells stay queued
    for _ in range(20):
        stack.create("itest-one-step")

    time.sleep(1)  # ten scheduler polls
    assert len(stack.queued_messages()) == 20


def test_a_doorbell_rung_instance_is_left_out_of_the_count_but_a_due_timer_is_not(stack, recorded):
    stack.create("itest-one-step")  # its doorbell was just rung
    timer, _ = stack.create("itest-one-step")
    # A timer: its wake_at is later than the write that set it.
    Instance.objects.filter(pk=timer.pk).update(modified_at=F("wake_at") - dt.timedelta(seconds=1))

    assert queue.due_count(limit=10) == 1

    _later(queue.DOORBELL_GRACE_SECONDS + 1)
    try:
        assert queue.due_count(limit=10) == 2
    finally:
        clock.set_clock(None)
