"""Concurrent steps in async run(): asyncio.gather and asyncio.wait(FIRST_COMPLETED)."""

from __future__ import annotations

import pytest

from tests.workflows import CALLS
from workflows_app import services
from workflows_app.models import Event, Instance, StepRecord
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


def _steps(instance_id: str) -> list[tuple[str, str]]:
    return list(
        StepRecord.objects.filter(instance__instance_id=instance_id)
        .order_by("seq")
        .values_list("name", "status")
    )


def test_parallel_steps_with_asyncio_gather_survive_replay(account, clock, run_due):
    # given gather(two steps whose bodies must overlap), a sleep, gather(two waits),
    # then gather(two more steps)
    instance = get_workflow("parallel-gather", account=account).create()
    assert instance.status()["status"] == "waiting"
    assert (CALLS["left"], CALLS["right"]) == (1, 1)

    # when the sleep ends, then both waits are registered together
    clock.advance(3600)
    run_due()
    waits = [s for s in instance.status()["steps"] if s["type"] == "waitForEvent"]
    assert [(w["name"], w["status"]) for w in waits] == [
        ("wait x", "waiting"),
        ("wait y", "waiting"),
    ]

    # when the events arrive in the opposite order, each in its own activation
    instance.send_event(type="y", payload="Y")
    assert instance.status()["status"] == "waiting"
    instance.send_event(type="x", payload="X")

    # then the instance completed, each body having run once across 4 activations
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == {
        "first": ["left", "right"],
        "events": ["X", "Y"],
        "last": ["a1", "a2"],
    }
    assert CALLS["gather.run"] == 4
    assert [CALLS[k] for k in ("left", "right", "after 1", "after 2")] == [1, 1, 1, 1]


@pytest.mark.parametrize("winner", ["approval", "deadline"])
def test_race_with_asyncio_wait_first_completed_survives_replay(account, clock, run_due, winner):
    # given a race between an "approve" event (7 days) and a 1 day sleep, then a
    # step recording the winner, a 1 hour sleep and a last step
    instance = get_workflow("race-first-completed", account=account).create()
    assert instance.status()["status"] == "waiting"

    # when one side wins
    if winner == "approval":
        clock.advance(60)
        instance.send_event(type="approve", payload=None)
    else:
        clock.advance(86_400)
        run_due()
    assert CALLS["record winner"] == 1

    # and later activations replay the race
    clock.advance(3600)
    run_due()

    # then the same side won on every replay and each body ran once
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == {
        "winner": winner,
        "recorded": winner,
        "finish": "finished",
    }
    assert CALLS["race.run"] == 3
    assert (CALLS["record winner"], CALLS["finish"]) == (1, 1)


def test_parallel_branches_never_drop_a_deferred_step_result(account, clock, run_due):
    instance = get_workflow("rev-pending-loss", account=account).create()

    unfinished = [
        (name, status) for name, status in _steps(instance.id) if status not in ("succeeded",)
    ]
    clock.advance(3600)
    run_due()

    assert unfinished == [("nap", "waiting")]
    assert instance.status()["output"] == 60
    assert {name: n for name, n in CALLS.items() if n != 1} == {}


def test_a_cancelled_race_loser_never_takes_a_later_event(account, clock, run_due):
    instance = get_workflow("rev-race-swallow", account=account).create()
    clock.advance(86400)  # the deadline sleep wins the race
    run_due()

    instance.send_event(type="approve", payload="for-second")

    assert instance.status()["output"] == {"winner": "deadline", "second": "for-second"}
    assert ("approval", "cancelled") in _steps(instance.id)
    assert not Event.objects.filter(consumed_by__isnull=True).exists()


def test_a_short_non_step_await_does_not_suspend_the_activation(account, clock):
    instance = get_workflow("rev-early-suspend", account=account).create()

    assert CALLS["after"] == 1
    assert _steps(instance.id) == [("w", "waiting"), ("after", "succeeded")]


def test_deeply_nested_gathers_reach_their_next_step_before_suspending(account, clock):
    instance = get_workflow("rev-deep-gather", account=account).create()

    assert CALLS["after"] == 1
    assert dict(_steps(instance.id)) == {"w": "waiting", "inner": "succeeded", "after": "succeeded"}


def test_parallel_steps_get_their_own_journal_position(account, clock):
    instance = get_workflow("rev-gather-seq", account=account).create()
    row = Instance.objects.get(instance_id=instance.id)

    services.instance_restart(instance=row, from_step={"name": "right"})

    assert dict(CALLS) == {"left": 1, "right": 2}
