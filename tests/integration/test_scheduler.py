"""The scheduler's due query on PostgreSQL, and its rescue of stalled pauses.

Given due instances, when several schedulers take batches at once, then each
instance is sent by exactly one of them, and again only once its mark ran out
with no worker having claimed it.
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
from workflows_app.engine import clock
from workflows_app.engine.dispatch import BaseDispatcher
from workflows_app.engine.journal import queue, store
from workflows_app.models import Instance, InstanceStatus, StepAttempt, StepRecord

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def take(limit: int) -> list[int]:
    """One scheduler round (30 s marks), ignoring the doorbell grace."""
    return queue.due_instance_pks_for_dispatch(
        limit=limit, redispatch_seconds=30, doorbell_grace_seconds=0
    )


class Recorder(BaseDispatcher):
    sent: list[int] = []

    def dispatch(self, instance_pks):
        Recorder.sent.extend(instance_pks)


@pytest.fixture
def recorded(stack, settings):
    """Dispatches are recorded, not sent: the test plays the schedulers."""
    settings.WORKFLOWS_DISPATCHER = f"{__name__}.Recorder"
    Recorder.sent = []
    return Recorder.sent


def test_concurrent_schedulers_send_each_due_instance_once(stack, recorded):
    created = [stack.create("itest-one-step")[0].pk for _ in range(60)]
    barrier = threading.Barrier(3)
    taken: list[list[int]] = [[], [], []]

    def scheduler(index: int) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                taken[index] += take(7)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = taken[0] + taken[1] + taken[2]
    assert sorted(everything) == sorted(created)
    assert take(100) == []


def test_a_sent_instance_nobody_claimed_is_sent_again_after_its_mark(stack, recorded):
    instance, _ = stack.create("itest-one-step")
    assert take(10) == [instance.pk]
    assert take(10) == []

    later = clock.now() + dt.timedelta(seconds=31)
    clock.set_clock(lambda: later)
    try:
        assert take(10) == [instance.pk]
    finally:
        clock.set_clock(None)


def test_the_mark_is_not_a_lease_a_worker_claims_at_once(stack, recorded):
    instance, _ = stack.create("itest-one-step")
    assert take(10) == [instance.pk]
    assert store.claim(instance.pk, lease_seconds=5) is not None


def test_a_dead_workers_expired_lease_is_dropped_when_sent_again(stack, recorded):
    instance, _ = stack.create("itest-one-step")
    dead_token = store.claim(instance.pk, lease_seconds=0.01)
    assert dead_token is not None
    wait_for(
        lambda: take(10),
        timeout=5,
    )
    # The stalled worker, should it wake, is fenced off.
    assert not store.renew_lease(instance_pk=instance.pk, token=dead_token, lease_seconds=5)
    assert store.claim(instance.pk, lease_seconds=5) is not None


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


def test_the_scheduler_does_not_resend_what_the_doorbell_just_sent(stack):
    stack.start_scheduler(WORKFLOWS_REDISPATCH_SECONDS="30")  # no worker: messages stay queued
    for _ in range(20):
        stack.create("itest-one-step")

    time.sleep(1)  # ten scheduler polls
    assert len(stack.queued_messages()) == 20


def test_a_doorbell_sent_instance_waits_for_its_message_but_a_due_timer_does_not(stack, recorded):
    fresh, _ = stack.create("itest-one-step")
    timer, _ = stack.create("itest-one-step")
    # A timer: its wake_at is later than the write that set it.
    Instance.objects.filter(pk=timer.pk).update(modified_at=F("wake_at") - dt.timedelta(seconds=1))

    assert queue.due_instance_pks_for_dispatch(limit=10, redispatch_seconds=30) == [timer.pk]

    later = clock.now() + dt.timedelta(seconds=31)
    clock.set_clock(lambda: later)
    try:
        assert queue.due_instance_pks_for_dispatch(limit=10, redispatch_seconds=30) == [
            fresh.pk,
            timer.pk,
        ]
    finally:
        clock.set_clock(None)
