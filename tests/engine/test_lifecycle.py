"""Pause, resume, terminate and restart."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from django.db import connections, transaction
from django.utils import timezone

from tests.engine.workflows import gate
from tests.workflows import CALLS, GATES
from workflows_app import services
from workflows_app.engine import clock as engine_clock
from workflows_app.models import Event, Instance, StepAttempt, StepRecord
from workflows_app.sdk import InvalidTransitionError, get_workflow

pytestmark = pytest.mark.django_db(transaction=True)

BLOCKING = ["blocking-async", "blocking-sync"]


def sleeper(account, name="sleeper-sync", seconds=60):
    return get_workflow(name, account=account).create(
        params={"how": "duration", "value": f"{seconds} seconds"}
    )


@pytest.mark.parametrize("name", ["sleeper-async", "sleeper-sync"])
def test_pause_during_a_sleep_pauses_at_once(account, clock, run_due, name):
    # given a sleeping instance
    instance = sleeper(account, name)
    assert instance.status()["status"] == "waiting"

    # when it is paused
    instance.pause()

    # then it is paused at once, and stays paused past the sleep's end
    assert instance.status()["status"] == "paused"
    clock.advance(3600)
    run_due()
    assert instance.status()["status"] == "paused"
    assert CALLS["after"] == 0


@pytest.mark.parametrize("name", ["sleeper-async", "sleeper-sync"])
def test_resume_shifts_the_sleep_by_the_time_spent_paused(account, clock, run_due, name):
    # given a 60 s sleep, paused 20 s in, for 100 s
    started = clock.current
    instance = sleeper(account, name, seconds=60)
    clock.advance(20)
    instance.pause()
    clock.advance(100)

    # when it is resumed
    instance.resume()

    # then the sleep ends 100 s later than planned: at 160 s, not 60 s
    nap = instance.status()["steps"][1]
    assert nap["until"] == started + dt.timedelta(seconds=160)
    clock.advance(39.999)
    run_due()
    assert instance.status()["status"] == "waiting"
    clock.advance(0.001)
    run_due()
    assert instance.status()["status"] == "complete"
    assert clock.current == started + dt.timedelta(seconds=160)


def test_resume_shifts_a_pending_retry_by_the_time_spent_paused(account, clock, run_due):
    # given a step whose retry is due in 10 s, paused for 30 s
    config = {"retries": {"limit": 1, "delay": "10 seconds"}}
    instance = get_workflow("retrying-sync", account=account).create(
        params={"fail_times": 1, "config": config}
    )
    due = instance.status()["steps"][0]["next_attempt_at"]
    instance.pause()
    clock.advance(30)

    # when it is resumed
    instance.resume()

    # then the retry is due 30 s later than planned
    assert instance.status()["steps"][0]["next_attempt_at"] == due + dt.timedelta(seconds=30)
    clock.advance(9)
    run_due()
    assert CALLS["flaky"] == 1
    clock.advance(1)
    run_due()
    assert instance.status()["status"] == "complete"


def test_resume_shifts_an_event_timeout_by_the_time_spent_paused(account, clock, run_due):
    # given a wait for "approval" timing out in 1 hour, paused 10 minutes in, for 2 hours
    started = clock.current
    params = {"types": ["approval"], "timeout": "1 hour"}
    instance = get_workflow("events-sync", account=account).create(params=params)
    clock.advance(600)
    instance.pause()
    clock.advance(7200)

    # when it is resumed
    instance.resume()

    # then the timeout is 2 hours later than planned
    assert instance.status()["steps"][0]["timeout_at"] == started + dt.timedelta(hours=3)
    clock.advance(dt.timedelta(minutes=50) - dt.timedelta(milliseconds=1))
    run_due()
    assert instance.status()["status"] == "waiting"
    clock.advance(dt.timedelta(milliseconds=1))
    run_due()
    assert instance.status()["output"][0]["caught"] == "WorkflowTimeoutError"


@pytest.mark.parametrize("name", BLOCKING)
def test_pause_while_a_step_runs_waits_for_pause_then_pauses_at_the_next_step_boundary(
    account, clock, blocked, name
):
    # given an instance whose first step body is running
    instance = blocked.start(account, name, "held")
    assert instance.status()["status"] == "running"

    # when it is paused
    instance.pause()

    # then it waits for the running step to end
    assert instance.status()["status"] == "waitingForPause"

    # when the step ends, then the step's result is kept and the instance pauses
    # before the next step starts
    blocked.release()
    status = instance.status()
    assert status["status"] == "paused"
    assert [(s["name"], s["status"]) for s in status["steps"]] == [("block", "succeeded")]
    assert CALLS["next"] == 0

    # when resumed, then it goes on from there without running the first step again
    instance.resume()
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == ["unblocked", "next ran"]
    assert (CALLS["block"], CALLS["next"]) == (1, 1)


@pytest.mark.parametrize("name", BLOCKING)
def test_resume_while_waiting_for_pause_cancels_the_pause(account, clock, blocked, name):
    # given a pause requested while a step runs
    instance = blocked.start(account, name, "held")
    instance.pause()

    # when it is resumed before the step ends
    instance.resume()
    assert instance.status()["status"] == "running"
    blocked.release()

    # then the instance never paused and completed
    assert instance.status()["status"] == "complete"
    assert CALLS["next"] == 1


@pytest.mark.parametrize("state", ["queued", "running", "waiting", "paused", "waitingForPause"])
def test_terminate_works_from_any_non_terminal_state(account, clock, run_due, blocked, state):
    # given an instance in a non-terminal state
    if state == "queued":
        with transaction.atomic():
            instance = sleeper(account)
            assert instance.status()["status"] == "queued"
            # when it is terminated
            instance.terminate()
    else:
        if state in ("running", "waitingForPause"):
            instance = blocked.start(account, "blocking-sync", "held")
            if state == "waitingForPause":
                instance.pause()
        else:
            instance = sleeper(account)
            if state == "paused":
                instance.pause()
        assert instance.status()["status"] == state
        # when it is terminated
        instance.terminate()
        if blocked.thread is not None:
            blocked.release()

    # then it is terminated and nothing more runs, even once timers are due
    assert instance.status()["status"] == "terminated"
    clock.advance(3600)
    run_due()
    assert instance.status()["status"] == "terminated"
    assert CALLS["after"] == 0
    assert CALLS["next"] == 0


@pytest.mark.parametrize(
    ("params", "final"),
    [({"then": "complete"}, "complete"), ({"then": "fail"}, "errored")],
)
def test_terminate_on_a_terminal_instance_raises_invalid_transition_error(
    account, clock, params, final
):
    # given a complete, errored or terminated instance
    instance = get_workflow("restartable", account=account).create(params=params)
    assert instance.status()["status"] == final
    sleeping = sleeper(account)
    sleeping.terminate()

    # when it is terminated, then InvalidTransitionError and nothing changes
    for ended, status in ((instance, final), (sleeping, "terminated")):
        with pytest.raises(InvalidTransitionError, match="finite state"):
            ended.terminate()
        assert ended.status()["status"] == status


@pytest.mark.parametrize(
    ("state", "params", "after_restart"),
    [
        ("queued", {"then": "complete"}, "complete"),
        ("complete", {"then": "complete"}, "complete"),
        ("errored", {"then": "fail"}, "errored"),
        ("terminated", {"then": "sleep"}, "waiting"),
        ("waiting", {"then": "sleep"}, "waiting"),
        ("paused", {"then": "sleep"}, "waiting"),
    ],
)
def test_restart_works_from_any_state_and_reruns_from_the_top(
    account, clock, state, params, after_restart
):
    binding = get_workflow("restartable", account=account)
    if state == "queued":
        # given a queued instance
        with transaction.atomic():
            instance = binding.create(params=params)
            assert instance.status()["status"] == "queued"
            # when it is restarted
            instance.restart()
        assert (CALLS["s1"], CALLS["s2"]) == (1, 1)
        assert instance.status()["status"] == after_restart
        return

    # given an instance in some state
    instance = binding.create(params=params)
    if state == "terminated":
        instance.terminate()
    if state == "paused":
        instance.pause()
    assert instance.status()["status"] == state

    # when it is restarted
    instance.restart()

    # then every step ran again, with the same params
    assert instance.status()["status"] == after_restart
    assert (CALLS["s1"], CALLS["s2"]) == (2, 2)
    assert [s["output"] for s in instance.status()["steps"][:2]] == ["s1 run 2", "s2 run 2"]


@pytest.mark.parametrize("state", ["running", "waitingForPause"])
def test_restart_while_a_step_runs_reruns_from_the_top_and_fences_off_the_old_run(
    account, clock, blocked, state
):
    # given an instance whose first step is running (a pause possibly requested)
    instance = blocked.start(account, "blocking-sync", "held")
    if state == "waitingForPause":
        instance.pause()
    assert instance.status()["status"] == state

    # when it is restarted (the rerun's first step does not block)
    instance.restart()

    # then the rerun completed, and the old run's late result changed nothing
    assert instance.status()["status"] == "complete"
    blocked.release()
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == ["unblocked", "next ran"]
    assert (CALLS["block"], CALLS["next"]) == (2, 1)
    attempts = StepAttempt.objects.filter(step__name="block")
    assert [(a.number, a.success) for a in attempts] == [(1, True)]


@pytest.mark.parametrize("from_step", ["s2", {"name": "s2", "count": 1, "type": "do"}])
def test_restart_from_a_step_wipes_it_and_later_steps_and_keeps_earlier_ones_cached(
    account, clock, from_step
):
    # given a completed instance of three steps
    instance = get_workflow("restartable", account=account).create(params={"then": "complete"})
    assert instance.status()["output"] == ["s1 run 1", "s2 run 1", "s3 run 1"]

    # when it is restarted from s2
    instance.restart(from_step=from_step)

    # then s1 kept its cached output (its body did not run), s2 and s3 ran again
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == ["s1 run 1", "s2 run 2", "s3 run 2"]
    assert (CALLS["s1"], CALLS["s2"], CALLS["s3"]) == (1, 2, 2)
    attempts = StepAttempt.objects.order_by("step__seq").values_list("step__name", flat=True)
    assert list(attempts) == ["s1", "s2", "s3"]


def test_restart_from_an_unknown_step_raises_invalid_transition_error(account, clock):
    # given a completed instance
    instance = get_workflow("restartable", account=account).create(params={"then": "complete"})

    # when it is restarted from a step it never ran, then InvalidTransitionError
    with pytest.raises(InvalidTransitionError, match='Step "s9" not found'):
        instance.restart(from_step="s9")
    assert instance.status()["status"] == "complete"


def test_restart_clears_buffered_events(account, clock, run_due):
    # given an instance sleeping before a wait, with an event buffered for it
    params = {"sleep_first": "1 hour", "types": ["approval"]}
    instance = get_workflow("events-sync", account=account).create(params=params)
    instance.send_event(type="approval", payload="before restart")

    # when it is restarted and its sleep ends
    instance.restart()
    clock.advance(3600)
    run_due()

    # then the buffered event is gone: the wait is still waiting
    assert Event.objects.count() == 0
    assert instance.status()["status"] == "waiting"
    assert instance.status()["steps"][-1]["status"] == "waiting"


@pytest.fixture
def gates_opened_after() -> Iterator[None]:
    """A body still held by a failed test must not outlive it."""
    yield
    for event in GATES.values():
        event.set()


@pytest.mark.usefixtures("gates_opened_after")
def test_resume_during_a_pending_pause_is_not_lost(account, clock):
    binding = get_workflow("rev-resume-lost", account=account)
    errors: list[BaseException] = []

    def create() -> None:
        try:
            binding.create(id="r1")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    runner = threading.Thread(target=create)
    runner.start()
    assert gate("a_started").wait(5)
    assert gate("b_started").wait(5)
    row = Instance.objects.get(instance_id="r1")
    services.instance_pause(instance=row)
    gate("b_release").set()
    # b1 ends; b2's attempt start meets the pending pause and parks.
    for _ in range(100):
        if StepRecord.objects.filter(instance=row, name="b1", status="succeeded").exists():
            break
        threading.Event().wait(0.02)
    services.instance_resume(instance=row)
    gate("a_release").set()
    runner.join(10)

    assert errors == []
    row.refresh_from_db()
    assert (row.status, row.output) == ("complete", ["a", "b1", "b2"])


def test_pause_judges_a_running_lease_by_the_database_clock_not_the_web_hosts(account):
    # given an instance a worker holds, its lease live for 20 more seconds by the database
    workflow = services.workflow_enable(account=account, name="echo-sync")
    instance = services.instance_create(workflow=workflow, instance_id="held-elsewhere")
    Instance.objects.filter(pk=instance.pk).update(
        status="running",
        ended_at=None,
        lease_token="a-worker",
        lease_expires_at=timezone.now() + dt.timedelta(seconds=20),
    )
    # and a web process whose own clock runs 30 s ahead
    engine_clock.set_clock(lambda: timezone.now() + dt.timedelta(seconds=30))
    try:
        # when an operator pauses it there
        services.instance_pause(instance=instance)
    finally:
        engine_clock.set_clock(None)

    # then it waits for the worker's step instead of pausing under it
    instance.refresh_from_db()
    assert instance.status == "waitingForPause"
