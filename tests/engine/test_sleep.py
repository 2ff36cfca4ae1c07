"""step.sleep and step.sleep_until, and the durations they accept."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.workflows import CALLS
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)

SLEEPERS = ["sleeper-async", "sleeper-sync"]


def nap(instance):
    return next(s for s in instance.status()["steps"] if s["type"] == "sleep")


def sleep_for(account, value, how="duration", name="sleeper-sync"):
    return get_workflow(name, account=account).create(params={"how": how, "value": value})


@pytest.mark.parametrize("name", SLEEPERS)
def test_sleep_suspends_the_instance_until_the_duration_has_elapsed(account, clock, run_due, name):
    # given a workflow: step, sleep 10 minutes, step
    instance = sleep_for(account, "10 minutes", name=name)
    assert instance.status()["status"] == "waiting"
    assert nap(instance)["until"] == clock.current + dt.timedelta(minutes=10)

    # when almost all of the time has passed, then it still sleeps
    clock.advance(dt.timedelta(minutes=10) - dt.timedelta(milliseconds=1))
    run_due()
    assert instance.status()["status"] == "waiting"
    assert CALLS["after"] == 0

    # when the sleep has elapsed, then it carries on; the first step did not run again
    clock.advance(dt.timedelta(milliseconds=1))
    run_due()
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == {"before": 1, "after": 1}
    assert CALLS["sleeper.run"] == 2


@pytest.mark.parametrize(("value", "ms"), [(1500, 1500), (250.5, 250.5), (0, 0)])
def test_duration_in_milliseconds_as_int_or_float(account, clock, value, ms):
    # given a duration given as a number of milliseconds
    started = clock.current

    # when the workflow sleeps for it
    instance = sleep_for(account, value)

    # then it sleeps exactly that long (0 ms does not suspend)
    if ms:
        assert nap(instance)["until"] == started + dt.timedelta(milliseconds=ms)
    else:
        assert instance.status()["status"] == "complete"


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("1 second", dt.timedelta(seconds=1)),
        ("30 seconds", dt.timedelta(seconds=30)),
        ("1 minute", dt.timedelta(minutes=1)),
        ("5 minutes", dt.timedelta(minutes=5)),
        ("1 hour", dt.timedelta(hours=1)),
        ("2 hours", dt.timedelta(hours=2)),
        ("1 day", dt.timedelta(days=1)),
        ("3 days", dt.timedelta(days=3)),
        ("1 week", dt.timedelta(weeks=1)),
        ("2 weeks", dt.timedelta(weeks=2)),
        ("1 month", dt.timedelta(days=30)),
        ("6 months", dt.timedelta(days=180)),
        ("1 year", dt.timedelta(days=365)),
    ],
)
def test_duration_strings_n_units_from_second_to_year(account, clock, text, delta):
    # given a duration string "N unit(s)"
    started = clock.current

    # when the workflow sleeps for it
    instance = sleep_for(account, text)

    # then the sleep ends that long after it began (months 30 days, years 365 days)
    assert nap(instance)["until"] == started + delta


def test_duration_as_timedelta(account, clock):
    # given a timedelta of 90 seconds
    started = clock.current

    # when the workflow sleeps for it
    instance = sleep_for(account, 90, how="timedelta")

    # then the sleep ends 90 seconds later
    assert nap(instance)["until"] == started + dt.timedelta(seconds=90)


@pytest.mark.parametrize("text", ["5 fortnights", "soon", "-1 seconds", "10"])
def test_invalid_duration_raises_invalid_step_error(account, clock, text):
    # given an unparseable duration
    # when the workflow sleeps for it
    instance = sleep_for(account, text)

    # then run() caught InvalidStepError at the call
    assert instance.status()["output"]["caught"] == "InvalidStepError"
    assert "is not a valid duration" in instance.status()["output"]["message"]


@pytest.mark.parametrize("name", SLEEPERS)
def test_sleep_until_an_aware_datetime(account, clock, run_due, name):
    # given a target two hours from now, as a datetime
    target = clock.current + dt.timedelta(hours=2)

    # when the workflow sleeps until it
    instance = sleep_for(account, target.isoformat(), how="until datetime", name=name)

    # then it wakes exactly then
    assert nap(instance)["until"] == target
    clock.advance(dt.timedelta(hours=2) - dt.timedelta(milliseconds=1))
    run_due()
    assert instance.status()["status"] == "waiting"
    clock.advance(dt.timedelta(milliseconds=1))
    run_due()
    assert instance.status()["status"] == "complete"


@pytest.mark.parametrize("name", SLEEPERS)
def test_sleep_until_epoch_milliseconds(account, clock, run_due, name):
    # given a target as epoch milliseconds, 90 seconds from now
    target = clock.current.replace(microsecond=0) + dt.timedelta(seconds=90)
    epoch_ms = int(target.timestamp() * 1000)

    # when the workflow sleeps until it
    instance = sleep_for(account, epoch_ms, how="until epoch ms", name=name)

    # then it wakes exactly then
    assert nap(instance)["until"] == target
    clock.advance(target - clock.current)
    run_due()
    assert instance.status()["status"] == "complete"


@pytest.mark.parametrize("name", SLEEPERS)
@pytest.mark.parametrize("seconds_ago", [0, 1, 86_400])
def test_sleep_until_a_past_time_raises_a_catchable_invalid_step_error(
    account, clock, name, seconds_ago
):
    # given a target that is now or in the past
    target = clock.current - dt.timedelta(seconds=seconds_ago)

    # when the workflow sleeps until it
    instance = sleep_for(account, target.isoformat(), how="until datetime", name=name)

    # then run() caught InvalidStepError
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == {
        "caught": "InvalidStepError",
        "message": "You can't sleep until a time in the past, time-traveler",
    }


@pytest.mark.parametrize(
    ("how", "value"),
    [
        ("duration", "366 days"),
        ("duration", 365 * 86_400_000 + 1),
        ("timedelta", 365 * 86_400 + 1),
        ("until datetime", None),
    ],
)
def test_sleep_longer_than_365_days_raises_invalid_step_error(account, clock, how, value):
    # given a sleep of more than 365 days (a duration, or a target that far away)
    if value is None:
        value = (clock.current + dt.timedelta(days=365, seconds=1)).isoformat()

    # when the workflow sleeps
    instance = sleep_for(account, value, how=how)

    # then run() caught InvalidStepError
    assert instance.status()["output"] == {
        "caught": "InvalidStepError",
        "message": "A sleep cannot last longer than 365 days",
    }
