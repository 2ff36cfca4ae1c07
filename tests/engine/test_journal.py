"""The journal records every attempt of every step, and outlives a failed write."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import OperationalError

from workflows_app.engine.journal import store
from workflows_app.models import StepAttempt, StepRecord
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("name", ["retrying-async", "retrying-sync"])
def test_journal_records_every_attempt_with_times_errors_traceback_cpu_and_wall_ms(
    account, clock, run_due, name
):
    # given a step failing twice before it succeeds, 5 s apart
    config = {"retries": {"limit": 3, "delay": "5 seconds", "backoff": "constant"}}
    started = clock.current
    instance = get_workflow(name, account=account).create(
        params={"fail_times": 2, "config": config}
    )

    # when the retries run
    clock.advance(5)
    run_due()
    clock.advance(5)
    run_due()

    # then each attempt is a row with its start, end, outcome and error
    attempts = list(StepAttempt.objects.filter(step__name="flaky").order_by("number"))
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.success for a in attempts] == [False, False, True]
    assert [a.started_at for a in attempts] == [
        started + dt.timedelta(seconds=s) for s in (0, 5, 10)
    ]
    assert [a.ended_at for a in attempts] == [a.started_at for a in attempts]
    assert [a.error_name for a in attempts] == ["ValueError", "ValueError", ""]
    assert [a.error_message for a in attempts] == ["boom on attempt 1", "boom on attempt 2", ""]
    assert attempts[0].error_traceback.startswith("Traceback (most recent call last):")
    assert attempts[0].error_traceback.rstrip().endswith("ValueError: boom on attempt 1")
    assert "in flaky" in attempts[1].error_traceback
    assert attempts[2].error_traceback == ""
    assert all(not a.timed_out for a in attempts)
    assert all(a.cpu_ms >= 0 and a.wall_ms > 0 for a in attempts)

    # and status() shows the same attempts
    shown = instance.status()["steps"][0]["attempts"]
    assert [(a["number"], a["success"], a["error"]) for a in shown] == [
        (1, False, {"name": "ValueError", "message": "boom on attempt 1"}),
        (2, False, {"name": "ValueError", "message": "boom on attempt 2"}),
        (3, True, None),
    ]


@pytest.mark.parametrize("name", ["metered-async", "metered-sync"])
def test_journal_measures_cpu_and_wall_time_of_each_attempt(account, clock, name):
    # given a step burning 30 ms of CPU and one sleeping 50 ms
    # when they run
    instance = get_workflow(name, account=account).create()
    assert instance.status()["output"] == ["burnt", "rested"]

    # then cpu_ms counts the CPU burnt, and wall_ms the time spent sleeping
    burn = StepAttempt.objects.get(step__name="burn")
    rest = StepAttempt.objects.get(step__name="idle")
    assert burn.cpu_ms >= 30
    assert burn.wall_ms >= burn.cpu_ms - 1
    assert rest.wall_ms >= 50
    assert rest.cpu_ms < 20


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
    assert list(
        StepRecord.objects.filter(instance__instance_id=instance.id)
        .order_by("seq")
        .values_list("name", "status")
    ) == [("x", "succeeded"), ("nap", "waiting")]
