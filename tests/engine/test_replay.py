"""Replay: run() re-executes from the top; the journal answers for steps already done."""

from __future__ import annotations

import pytest

from tests.workflows import CALLS, SWITCH
from workflows_app.models import StepRecord
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("name", ["replay-async", "replay-sync"])
def test_run_reexecutes_from_the_top_on_every_activation(account, clock, run_due, name):
    # given step, sleep, wait for event, step
    instance = get_workflow(name, account=account).create()

    # when the sleep ends and then the event arrives
    clock.advance(3600)
    run_due()
    instance.send_event(type="go", payload="went")

    # then run() ran three times (one per activation) from the top
    assert instance.status()["status"] == "complete"
    assert CALLS["replay.run"] == 3


@pytest.mark.parametrize("name", ["replay-async", "replay-sync"])
def test_journaled_step_returns_its_stored_output_without_running(account, clock, run_due, name):
    # given a workflow whose first step returns how often its body ran
    instance = get_workflow(name, account=account).create()

    # when it is replayed twice more
    clock.advance(3600)
    run_due()
    instance.send_event(type="go", payload="went")

    # then every step body ran once and replays got the stored outputs
    assert instance.status()["output"] == ["first ran 1 time(s)", "went", "second ran 1 time(s)"]
    assert (CALLS["first"], CALLS["second"]) == (1, 1)


@pytest.mark.parametrize("name", ["replay-failed-async", "replay-failed-sync"])
def test_journaled_failed_step_reraises_its_stored_error_without_running(
    account, clock, run_due, name
):
    # given a step that failed (no retries) and was caught, then a sleep
    instance = get_workflow(name, account=account).create()
    assert CALLS["fails"] == 1

    # when the instance replays after the sleep
    clock.advance(3600)
    run_due()

    # then the replay re-raised the same error class and message without running the body
    assert CALLS["replay-failed.run"] == 2
    assert CALLS["fails"] == 1
    assert instance.status()["output"] == {
        "caught": "PaymentDeclinedError",
        "message": "declined (body run 1)",
    }


@pytest.mark.parametrize("name", ["same-name-async", "same-name-sync"])
def test_same_step_name_twice_is_two_steps(account, clock, run_due, name):
    # given step.do("fetch") twice, then step.sleep("fetch")
    instance = get_workflow(name, account=account).create()

    # when the instance replays after the sleep
    clock.advance(60)
    run_due()

    # then the two calls were two steps (counts 1 and 2), each run once, and the
    # sleep of the same name a third one: the key is (type, name, count)
    assert instance.status()["output"] == ["fetch number 1", "fetch number 2"]
    assert (CALLS["fetch 1"], CALLS["fetch 2"]) == (1, 1)
    keys = [(s["type"], s["name"], s["count"]) for s in instance.status()["steps"]]
    assert keys == [("do", "fetch", 1), ("do", "fetch", 2), ("sleep", "fetch", 1)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("renamed step", 'The journal has step "charge-1" (do) that run() no longer reaches'),
        ("removed wait", 'The journal has step "approval-1" (waitForEvent) that run()'),
        (
            "changed event type",
            "Step \"approval-1\" waited for events of type 'approve' but the code now "
            "waits for 'confirm'",
        ),
    ],
)
def test_journal_that_no_longer_matches_the_code_raises_nondeterminism_error(
    account, clock, run_due, change, message
):
    # given an instance that journaled "charge", a sleep and a wait for "approve"
    instance = get_workflow("code-change", account=account).create()
    clock.advance(3600)
    run_due()
    assert instance.status()["status"] == "waiting"
    assert StepRecord.objects.count() == 3

    # when the code changes under it and it replays
    SWITCH["code-change"] = change
    clock.advance(60)
    instance.send_event(type="approve", payload=None)
    run_due()

    # then the instance is errored with a NondeterminismError saying what differs
    status = instance.status()
    assert status["status"] == "errored"
    assert status["error"]["name"] == "NondeterminismError"
    assert status["error"]["message"].startswith(message)
