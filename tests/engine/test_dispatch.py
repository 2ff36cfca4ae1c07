"""Doorbells on the embedded default: the database is the queue, workers take due work themselves.

Given instances whose timers came due at different times, when a doorbell is
answered, then the most overdue instance is taken first, an expired lease is
just due again, and the scheduler rings only for due work no queued doorbell
covers. Every comparison is made on the database's clock, which a test's
manual clock stands in for.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests import workflows
from workflows_app.engine import clock as engine_clock
from workflows_app.engine import runner, scheduler
from workflows_app.engine.dispatch import BaseDispatcher
from workflows_app.engine.journal import queue, store
from workflows_app.models import Instance
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)

NAP = {"how": "duration", "value": "10 minutes"}


class Counting(BaseDispatcher):
    """Runs nothing: records the doorbells; ``depth`` plays the broker's queue."""

    dispatched: list[int] = []
    rung: list[int] = []
    depth = 0

    def dispatch(self, instance_pks):
        Counting.dispatched.extend(instance_pks)

    def ring(self, count):
        Counting.rung.append(count)
        Counting.depth += count

    def queued(self):
        return Counting.depth


@pytest.fixture
def counting(settings):
    settings.WORKFLOWS_DISPATCHER = f"{__name__}.Counting"
    Counting.dispatched, Counting.rung, Counting.depth = [], [], 0
    return Counting


def _sleepers(account, clock, count: int) -> list[int]:
    """``count`` instances asleep for 10 minutes, each started a minute after the last."""
    binding = get_workflow("sleeper-sync", account=account)
    pks = []
    for index in range(count):
        binding.create(id=f"s{index}", params=NAP)
        pks.append(Instance.objects.get(instance_id=f"s{index}").pk)
        clock.advance(60)
    return pks


def test_workers_claim_the_most_overdue_due_instance_first(account, clock):
    pks = _sleepers(account, clock, 3)
    assert store.claim_next(lease_seconds=60) is None  # nobody's nap is over yet

    clock.advance(dt.timedelta(minutes=10))
    claimed = [store.claim_next(lease_seconds=60) for _ in range(4)]

    assert [c[0] if c else None for c in claimed] == [*pks, None]


def test_an_expired_lease_is_due_again_on_the_database_clock(account, clock):
    (pk,) = _sleepers(account, clock, 1)
    clock.advance(dt.timedelta(minutes=10))
    first = store.claim_next(lease_seconds=30)
    assert first is not None
    assert first[0] == pk

    clock.advance(29)
    assert store.claim_next(lease_seconds=30) is None  # the lease is live
    clock.advance(2)
    again = store.claim_next(lease_seconds=30)
    assert again is not None
    assert again[0] == pk
    # The first holder is fenced off.
    assert not store.renew_lease(instance_pk=pk, token=first[1], lease_seconds=30)


def test_a_doorbell_drains_every_due_instance(account, clock):
    _sleepers(account, clock, 3)
    clock.advance(dt.timedelta(minutes=10))

    assert runner.drain() == 3
    assert runner.drain() == 0  # a stale doorbell: one empty claim
    assert set(Instance.objects.values_list("status", flat=True)) == {"complete"}
    assert workflows.CALLS["after"] == 3


def test_past_its_time_a_drain_starts_nothing_new_and_rings_for_the_rest(account, clock, counting):
    binding = get_workflow("echo-sync", account=account)
    for index in range(3):
        binding.create(id=f"e{index}")  # due at once; recorded, not run

    assert runner.drain(seconds=0) == 1
    assert counting.rung == [1]
    assert Instance.objects.filter(status="complete").count() == 1


def test_the_scheduler_rings_for_due_work_only_when_no_doorbell_waits(account, clock, counting):
    binding = get_workflow("echo-sync", account=account)
    for index in range(4):
        binding.create(id=f"e{index}")
    assert len(counting.dispatched) == 4  # their own doorbells, after commit

    assert scheduler.dispatch_due() == 0  # rung a moment ago: in the grace
    clock.advance(queue.DOORBELL_GRACE_SECONDS + 1)
    counting.depth = 1
    assert scheduler.dispatch_due() == 0  # a doorbell waits: no worker slot is idle
    counting.depth = 0  # taken, or lost with a flushed broker
    assert scheduler.dispatch_due() == 4
    assert scheduler.dispatch_due() == 0  # they wait now
    assert counting.rung == [4]


def test_the_inline_dispatcher_rings_by_draining_due_work(account, clock):
    _sleepers(account, clock, 2)
    clock.advance(dt.timedelta(minutes=10))

    assert scheduler.dispatch_due() == 1  # no depth to read: one doorbell drains all
    assert set(Instance.objects.values_list("status", flat=True)) == {"complete"}


def test_a_host_clock_off_the_database_is_corrected_beyond_the_tolerance():
    host = timezone.now()
    engine_clock.set_clock(lambda: host)  # a host whose clock stands still
    try:
        engine_clock.observe_database_time(host + dt.timedelta(seconds=30), host, host)
        assert engine_clock.now() == host + dt.timedelta(seconds=30)
        assert engine_clock.host_now() == host
        # Within the tolerance (NTP-synced hosts): no correction, no jitter.
        engine_clock.observe_database_time(host + dt.timedelta(milliseconds=10), host, host)
        assert engine_clock.now() == host
    finally:
        engine_clock.set_clock(None)
    assert abs(engine_clock.now() - timezone.now()) < dt.timedelta(seconds=1)


def test_a_manual_clock_is_the_database_clock_and_is_never_corrected(clock):
    engine_clock.observe_database_time(
        clock.current + dt.timedelta(hours=1), clock.current, clock.current
    )
    assert engine_clock.now() == clock.current
    assert engine_clock.database_time() == clock.current
