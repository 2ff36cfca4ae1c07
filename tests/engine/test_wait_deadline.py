"""A wait's deadline is judged by when an event arrived, not by when the wait is processed.

An event's arrival time is stamped by the database in the INSERT. A wait takes
an event only if it arrived by the wait's deadline: a timed-out wait never takes
a later event, however late its timeout is processed (a stalled worker, a
backlog), and an event that arrived in time is never lost to a timeout that is
processed after it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from workflows_app.engine import clock as engine_clock
from workflows_app.engine.dispatch import BaseDispatcher
from workflows_app.engine.journal import store
from workflows_app.models import Event
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)

WAITERS = ["events-async", "events-sync"]
TIMED_OUT = {"caught": "WorkflowTimeoutError", "message": "Execution timed out after 3600000ms"}


def received(payload, at, event_type):
    return {
        "keys": ["payload", "timestamp", "type"],
        "payload": payload,
        "timestamp": at.isoformat(),
        "timestamp_is_datetime": True,
        "type": event_type,
    }


@pytest.mark.parametrize("name", WAITERS)
def test_an_event_that_arrives_after_the_deadline_is_not_taken_before_the_timeout_is_processed(
    account, clock, name
):
    # given two successive waits for "late", each timing out after an hour
    params = {"types": ["late", "late"], "timeout": "1 hour"}
    instance = get_workflow(name, account=account).create(params=params)
    deadline = instance.status()["steps"][0]["timeout_at"]

    # when the first deadline passes but nothing processes the timeout (a stalled
    # worker, a backlog), and a "late" event arrives 3.2 s after the deadline
    sent_at = clock.advance(3600 + 3.2)
    instance.send_event(type="late", payload="3.2 s late")

    # then the first wait timed out anyway, and the late event went to the second wait
    assert sent_at > deadline
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == [TIMED_OUT, received("3.2 s late", sent_at, "late")]
    first, second = instance.status()["steps"]
    assert (first["status"], second["status"]) == ("failed", "succeeded")
    assert Event.objects.get().consumed_by.count == 2


@pytest.mark.parametrize("name", WAITERS)
def test_an_event_that_arrived_by_the_deadline_is_taken_though_the_worker_read_events_before_it(
    account, clock, run_due, monkeypatch, name
):
    # given a wait for "go" timing out after an hour
    params = {"types": ["go"], "timeout": "1 hour"}
    instance = get_workflow(name, account=account).create(params=params)

    # and a worker that processes the deadline exactly when it falls, while a "go"
    # event arrives just after the worker read the instance's buffered events
    real_load = store.load
    sent_at = []

    def load_then_event_arrives(instance_pk):
        snapshot = real_load(instance_pk)
        if not sent_at:
            sent_at.append(engine_clock.now())
            instance.send_event(type="go", payload="on time")
        return snapshot

    monkeypatch.setattr(store, "load", load_then_event_arrives)
    clock.advance(3600)
    run_due()

    # then the event, which arrived at the deadline, is what the wait returns: no timeout
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == [received("on time", sent_at[0], "go")]
    assert instance.status()["steps"][0]["status"] == "succeeded"


@pytest.mark.parametrize("name", WAITERS)
def test_an_event_is_stamped_with_the_database_clock_not_the_senders_clock(account, name):
    # given a wait for "go" with an hour to go, on the real clock
    params = {"types": ["go"], "timeout": "1 hour"}
    instance = get_workflow(name, account=account).create(params=params)

    # when the event is sent from a process whose own clock runs 2 hours ahead
    ahead = dt.timedelta(hours=2)
    engine_clock.set_clock(lambda: timezone.now() + ahead, database=False)
    try:
        before = timezone.now()
        instance.send_event(type="go", payload="from a skewed host")
        after = timezone.now()
    finally:
        engine_clock.set_clock(None)

    # then its arrival is the database's time, so it is in time for the wait, which takes it
    stamped = Event.objects.get().created_at
    assert before - dt.timedelta(seconds=5) <= stamped <= after + dt.timedelta(seconds=5)
    assert instance.status()["output"] == [received("from a skewed host", stamped, "go")]


class StalledDispatcher(BaseDispatcher):
    """Workers that take nothing (stalled, or far behind a backlog)."""

    def dispatch(self, instance_pks):
        pass

    def ring(self, count):
        pass


def test_a_pause_after_a_passed_deadline_does_not_let_a_late_event_in(
    account, clock, run_due, settings
):
    # given a wait for "late" whose hour passed while the workers were stalled
    instance = get_workflow("events-sync", account=account).create(
        params={"types": ["late"], "timeout": "1 hour"}
    )
    settings.WORKFLOWS_DISPATCHER = "tests.engine.test_wait_deadline.StalledDispatcher"
    clock.advance(3600 + 10)
    # and a "late" event arriving 10 s after the deadline, then a pause for an hour
    instance.send_event(type="late", payload="10 s late")
    clock.advance(5)
    instance.pause()
    clock.advance(3600)

    # when the instance is resumed and the workers catch up
    settings.WORKFLOWS_DISPATCHER = "workflows_app.engine.inline.InlineDispatcher"
    instance.resume()
    run_due()

    # then the wait timed out: the event arrived after its deadline
    assert instance.status()["output"] == [TIMED_OUT]
