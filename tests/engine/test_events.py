"""step.wait_for_event: the received event, the per-type buffer, and timeouts."""

from __future__ import annotations

import datetime as dt

import pytest

from workflows_app.models import Event
from workflows_app.sdk import InvalidInputError, get_workflow

pytestmark = pytest.mark.django_db(transaction=True)

WAITERS = ["events-async", "events-sync"]


def received(payload, at, event_type):
    return {
        "keys": ["payload", "timestamp", "type"],
        "payload": payload,
        "timestamp": at.isoformat(),
        "timestamp_is_datetime": True,
        "type": event_type,
    }


@pytest.mark.parametrize("name", WAITERS)
def test_wait_for_event_returns_payload_timestamp_and_type(account, clock, name):
    # given an instance waiting for an "approval" event
    instance = get_workflow(name, account=account).create(params={"types": ["approval"]})
    assert instance.status()["status"] == "waiting"

    # when the event is sent a minute later
    sent_at = clock.advance(60)
    instance.send_event(type="approval", payload={"approved": True, "by": "ada"})

    # then the wait returns {"payload", "timestamp" (a datetime), "type"}
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == [
        received({"approved": True, "by": "ada"}, sent_at, "approval")
    ]


@pytest.mark.parametrize("name", WAITERS)
def test_event_sent_before_the_wait_is_buffered_until_the_wait_takes_it(
    account, clock, run_due, name
):
    # given an instance sleeping an hour before it waits for "approval"
    params = {"sleep_first": "1 hour", "types": ["approval"]}
    instance = get_workflow(name, account=account).create(params=params)

    # when the event is sent during the sleep
    sent_at = clock.advance(60)
    instance.send_event(type="approval", payload="early")
    assert instance.status()["status"] == "waiting"
    assert instance.status()["steps"][-1]["type"] == "sleep"

    # then the wait, once reached, returns the buffered event at once
    clock.advance(3600)
    run_due()
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == [received("early", sent_at, "approval")]


@pytest.mark.parametrize("name", WAITERS)
def test_buffered_events_are_kept_per_type_and_taken_oldest_first(account, clock, run_due, name):
    # given an instance sleeping before two waits for "vote"
    params = {"sleep_first": "1 hour", "types": ["vote", "vote"]}
    instance = get_workflow(name, account=account).create(params=params)

    # when two "vote" events and one "other" event are sent during the sleep
    first_at = clock.advance(1)
    instance.send_event(type="vote", payload="first")
    clock.advance(1)
    instance.send_event(type="other", payload="ignored")
    second_at = clock.advance(1)
    instance.send_event(type="vote", payload="second")
    clock.advance(3600)
    run_due()

    # then the waits took the "vote" events oldest first, and "other" stays buffered
    assert instance.status()["output"] == [
        received("first", first_at, "vote"),
        received("second", second_at, "vote"),
    ]
    leftover = Event.objects.filter(consumed_by__isnull=True)
    assert [(e.type, e.payload) for e in leftover] == [("other", "ignored")]


@pytest.mark.parametrize("name", WAITERS)
def test_event_sent_while_paused_is_buffered_and_delivered_after_resume(account, clock, name):
    # given a paused instance that was waiting for "approval"
    instance = get_workflow(name, account=account).create(params={"types": ["approval"]})
    instance.pause()
    assert instance.status()["status"] == "paused"

    # when the event is sent while paused
    sent_at = clock.advance(5)
    instance.send_event(type="approval", payload="while paused")

    # then nothing happens until resume, which delivers it
    assert instance.status()["status"] == "paused"
    clock.advance(5)
    instance.resume()
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == [received("while paused", sent_at, "approval")]


@pytest.mark.parametrize("name", WAITERS)
def test_event_sent_while_a_step_runs_is_buffered_and_delivered_right_after(
    account, clock, blocked, name
):
    # given an instance running a step before it waits for "approval"
    params = {"block_first": True, "types": ["approval"]}
    instance = blocked.start(account, name, "busy", params=params)

    # when the event is sent while the step runs
    sent_at = clock.advance(1)
    instance.send_event(type="approval", payload="mid-step")
    assert instance.status()["status"] == "running"

    # then the wait reached after the step gets it, without any timer being due
    blocked.release()
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == [received("mid-step", sent_at, "approval")]


@pytest.mark.parametrize("name", WAITERS)
def test_wait_timeout_defaults_to_24_hours_and_raises_a_catchable_workflow_timeout_error(
    account, clock, run_due, name
):
    # given an instance waiting for "approval" with the default timeout
    instance = get_workflow(name, account=account).create(params={"types": ["approval"]})
    wait = instance.status()["steps"][0]
    assert wait["timeout_at"] == clock.current + dt.timedelta(hours=24)

    # when 24 hours minus a millisecond pass, then it still waits
    clock.advance(dt.timedelta(hours=24) - dt.timedelta(milliseconds=1))
    run_due()
    assert instance.status()["status"] == "waiting"

    # when the timeout is reached, then run() caught WorkflowTimeoutError
    clock.advance(dt.timedelta(milliseconds=1))
    run_due()
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == [
        {"caught": "WorkflowTimeoutError", "message": "Execution timed out after 86400000ms"}
    ]
    assert instance.status()["steps"][0]["status"] == "failed"


@pytest.mark.parametrize("name", WAITERS)
def test_wait_timeout_unregisters_the_waiter_so_a_later_event_is_not_swallowed(
    account, clock, run_due, name
):
    # given two successive waits for "ping", each with a 1 hour timeout
    params = {"types": ["ping", "ping"], "timeout": "1 hour"}
    instance = get_workflow(name, account=account).create(params=params)

    # when the first wait times out
    clock.advance(3600)
    run_due()

    # and a "ping" is sent afterwards
    sent_at = clock.advance(60)
    instance.send_event(type="ping", payload="after the timeout")

    # then the timed-out waiter did not take it: the second wait of that type did
    assert instance.status()["output"] == [
        {"caught": "WorkflowTimeoutError", "message": "Execution timed out after 3600000ms"},
        received("after the timeout", sent_at, "ping"),
    ]
    first, second = Event.objects.get().consumed_by, instance.status()["steps"][1]
    assert (first.name, first.count) == ("wait", 2)
    assert second["status"] == "succeeded"


def test_uncaught_wait_timeout_errors_the_instance(account, clock, run_due):
    # given a run() that does not catch its wait's timeout
    instance = get_workflow("wait-timeout-uncaught", account=account).create()

    # when the timeout passes
    clock.advance(3600)
    run_due()

    # then the instance is errored with the timeout
    assert instance.status()["status"] == "errored"
    assert instance.status()["error"] == {
        "name": "WorkflowTimeoutError",
        "message": "Execution timed out after 3600000ms",
    }


@pytest.mark.parametrize("event_type", ["", "has space", "-leading", "new\nline", "x" * 101])
def test_event_type_must_match_the_id_pattern_and_be_at_most_100_characters(
    account, clock, event_type
):
    # given a waiting instance
    instance = get_workflow("events-sync", account=account).create(params={"types": ["ok"]})

    # when an event with a malformed type is sent, then it is refused
    with pytest.raises(InvalidInputError, match=r"Event type .* is invalid"):
        instance.send_event(type=event_type, payload=None)
    assert Event.objects.count() == 0
    instance.send_event(type="x" * 100, payload=None)
    assert Event.objects.count() == 1
