"""Engine bugs found in review, each reproduced here and fixed."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, connections

from tests.regressions import workflows as wf
from tests.regressions.workflows import CALLS, gate
from workflows_app import services
from workflows_app.engine import registry, store
from workflows_app.models import Event, Instance, StepRecord
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _review_workflows(settings):
    settings.WORKFLOW_MODULES = ["tests.regressions.workflows"]
    registry.reset()
    CALLS.clear()
    wf.GATES.clear()
    yield
    for event in wf.GATES.values():
        event.set()
    registry.reset()


def _steps(instance_id: str) -> list[tuple[str, str]]:
    return list(
        StepRecord.objects.filter(instance__instance_id=instance_id)
        .order_by("seq")
        .values_list("name", "status")
    )


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
    assert gate("a_started").wait(5) and gate("b_started").wait(5)
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


def test_a_transient_database_error_retries_instead_of_erroring(
    account, clock, run_due, monkeypatch
):
    real = store.waiter_register
    failures = iter([OperationalError("server closed the connection unexpectedly")])

    def flaky(**kwargs):
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return real(**kwargs)

    monkeypatch.setattr(store, "waiter_register", flaky)
    instance = get_workflow("rev-sync-simple", account=account).create()
    first = instance.status()["status"]
    run_due()  # the scheduler sends it again

    assert first == "running"
    assert instance.status()["status"] == "waiting"
    assert _steps(instance.id) == [("x", "succeeded"), ("nap", "waiting")]


def test_parallel_steps_get_their_own_journal_position(account, clock):
    instance = get_workflow("rev-gather-seq", account=account).create()
    row = Instance.objects.get(instance_id=instance.id)

    services.instance_restart(instance=row, from_step={"name": "right"})

    assert dict(CALLS) == {"left": 1, "right": 2}
