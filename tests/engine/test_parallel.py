"""Concurrent steps in async run(): asyncio.gather and asyncio.wait(FIRST_COMPLETED)."""

from __future__ import annotations

import pytest

from tests.workflows import CALLS
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


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
