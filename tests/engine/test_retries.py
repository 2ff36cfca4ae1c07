"""Step config: defaults, strict validation, backoff delays, exhausted and non-retryable errors."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.workflows import CALLS, SEEN
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)

RETRYING = ["retrying-async", "retrying-sync"]


def flaky_step(instance):
    return instance.status()["steps"][0]


def attempts_of(instance):
    return [(a["number"], a["success"]) for a in flaky_step(instance)["attempts"]]


@pytest.mark.parametrize("name", RETRYING)
def test_default_config_is_5_retries_exponential_10_second_delay_10_minute_timeout(
    account, clock, name
):
    # given a step with no config
    binding = get_workflow(name, account=account)

    # when it runs
    instance = binding.create(params={"fail_times": 0})

    # then its ctx and its journal show Cloudflare's defaults (production delay)
    expected = {
        "retries": {"limit": 5, "delay": "10 seconds", "backoff": "exponential"},
        "timeout": "10 minutes",
    }
    assert SEEN["flaky configs"] == [expected]
    assert flaky_step(instance)["config"] == expected


@pytest.mark.parametrize("name", RETRYING)
def test_default_limit_of_5_retries_allows_at_most_6_attempts(account, clock, run_due, name):
    # given a step that always fails, with the default config (10 s, exponential)
    instance = get_workflow(name, account=account).create(params={"fail_times": 99, "catch": True})

    # when every retry delay elapses: 10, 20, 40, 80, 160 seconds
    for delay in (10, 20, 40, 80, 160):
        assert flaky_step(instance)["next_attempt_at"] == clock.current + dt.timedelta(
            seconds=delay
        )
        clock.advance(delay)
        run_due()

    # then the step ran exactly 6 times and the last error reached run()
    assert CALLS["flaky"] == 6
    assert attempts_of(instance) == [(n, False) for n in range(1, 7)]
    assert instance.status()["output"]["result"] == {
        "caught": "ValueError",
        "message": "boom on attempt 6",
    }


def test_default_retry_delay_is_the_workflows_default_retry_delay_setting(
    account, clock, run_due, settings
):
    # given WORKFLOWS_DEFAULT_RETRY_DELAY set to 3 seconds
    settings.WORKFLOWS_DEFAULT_RETRY_DELAY = "3 seconds"

    # when a step with no config fails once
    instance = get_workflow("retrying-sync", account=account).create(params={"fail_times": 1})

    # then the retry is due 3 seconds later and ctx shows that delay
    assert flaky_step(instance)["next_attempt_at"] == clock.current + dt.timedelta(seconds=3)
    assert SEEN["flaky configs"][0]["retries"]["delay"] == "3 seconds"
    clock.advance(3)
    run_due()
    assert instance.status()["status"] == "complete"


def test_retry_delay_and_timeout_may_be_timedeltas(account, clock, run_due):
    # given a step config with timedelta(seconds=3) delay and a 60.5 s timedelta timeout
    # when its first attempt fails
    instance = get_workflow("timedelta-config", account=account).create()

    # then the config is stored in milliseconds and the retry is due 3 s later
    step = flaky_step(instance)
    assert step["config"] == {
        "retries": {"limit": 1, "delay": 3000, "backoff": "constant"},
        "timeout": 60500,
    }
    assert step["next_attempt_at"] == clock.current + dt.timedelta(seconds=3)
    clock.advance(3)
    run_due()
    assert instance.status()["output"] == "ok on attempt 2"


def test_partial_config_is_merged_over_the_defaults_field_by_field(account, clock):
    # given a config that only sets retries.limit
    params = {"fail_times": 0, "config": {"retries": {"limit": 2}}}

    # when the step runs
    instance = get_workflow("retrying-sync", account=account).create(params=params)

    # then the other fields keep their defaults
    assert flaky_step(instance)["config"] == {
        "retries": {"limit": 2, "delay": "10 seconds", "backoff": "exponential"},
        "timeout": "10 minutes",
    }


def check_config(account, config):
    instance = get_workflow("config-check", account=account).create(params={"config": config})
    return instance.status()


@pytest.mark.parametrize(
    ("config", "unknown"),
    [
        ({"retry": {"limit": 1}}, "'retry'"),
        ({"retries": {"limit": 1, "max": 3}}, "'max'"),
        ({"timeout": "1 minute", "sensitive": "output", "extra": 1}, "'extra', 'sensitive'"),
    ],
)
def test_unknown_config_keys_raise_invalid_step_error_at_the_call(account, clock, config, unknown):
    # given a step config with a key the engine does not know
    # when the step is called
    status = check_config(account, config)

    # then run() caught InvalidStepError naming the key, and the body never ran
    assert status["status"] == "complete"
    assert status["output"]["caught"] == "InvalidStepError"
    assert f"unknown key(s) {unknown}" in status["output"]["message"]
    assert CALLS["checked"] == 0
    assert status["steps"] == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"retries": {"limit": -1}}, "retries.limit must be between 0 and 10000"),
        ({"retries": {"delay": -5}}, "retries.delay must not be negative"),
        ({"timeout": -1}, "timeout must not be negative"),
    ],
)
def test_negative_numbers_in_config_raise_invalid_step_error(account, clock, config, message):
    # given a config with a negative number
    # when the step is called
    status = check_config(account, config)

    # then run() caught InvalidStepError saying which field is wrong
    assert status["output"]["caught"] == "InvalidStepError"
    assert message in status["output"]["message"]
    assert CALLS["checked"] == 0


def test_unknown_backoff_raises_invalid_step_error(account, clock):
    # given backoff "fibonacci"
    # when the step is called
    status = check_config(account, {"retries": {"backoff": "fibonacci"}})

    # then run() caught InvalidStepError listing the allowed backoffs
    assert status["output"] == {
        "caught": "InvalidStepError",
        "message": 'Step config for "checked": retries.backoff must be one of '
        "constant, linear, exponential",
    }


@pytest.mark.parametrize("timeout", [0, 0.0, "0 seconds"])
def test_zero_timeout_raises_invalid_step_error(account, clock, timeout):
    # given a timeout of zero
    # when the step is called
    status = check_config(account, {"timeout": timeout})

    # then run() caught InvalidStepError
    assert status["output"] == {
        "caught": "InvalidStepError",
        "message": 'Step config for "checked": timeout must be greater than 0',
    }


def test_a_step_timeout_above_the_maximum_is_refused_at_the_call(account):
    instance = get_workflow("budget-too-long-timeout", account=account).create()

    assert instance.status()["output"] == (
        'Step config for "slow": timeout must be at most 600 seconds '
        "(setting WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS)"
    )


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        ("constant", [2, 2, 2, 2]),
        ("linear", [2, 4, 6, 8]),
        ("exponential", [2, 4, 8, 16]),
    ],
)
def test_retry_delay_follows_the_backoff_formula(account, clock, run_due, backoff, delays):
    # given a step failing 4 times with a 2 s base delay
    config = {"retries": {"limit": 4, "delay": "2 seconds", "backoff": backoff}}
    instance = get_workflow("retrying-sync", account=account).create(
        params={"fail_times": 4, "config": config}
    )

    for number, delay in enumerate(delays, start=1):
        # then the next attempt is due exactly base, base*n or base*2^(n-1) later
        due = clock.current + dt.timedelta(seconds=delay)
        assert flaky_step(instance)["next_attempt_at"] == due
        assert instance.status()["status"] == "waiting"

        # and it does not run a millisecond early
        clock.advance(dt.timedelta(seconds=delay) - dt.timedelta(milliseconds=1))
        run_due()
        assert CALLS["flaky"] == number

        # but runs once due
        clock.advance(dt.timedelta(milliseconds=1))
        run_due()
        assert CALLS["flaky"] == number + 1

    assert instance.status()["status"] == "complete"
    assert instance.status()["output"]["result"] == "ok on attempt 5"


@pytest.mark.parametrize("name", RETRYING)
def test_exhausted_retries_reraise_the_last_error_into_run_which_may_continue(
    account, clock, run_due, name
):
    # given a step that always fails, 2 retries, and a run() that catches the error
    config = {"retries": {"limit": 2, "delay": 1000, "backoff": "constant"}}
    instance = get_workflow(name, account=account).create(
        params={"fail_times": 99, "config": config, "catch": True}
    )

    # when the retries are used up
    clock.advance(1)
    run_due()
    clock.advance(1)
    run_due()

    # then run() caught the last attempt's error and went on to the next step
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == {
        "result": {"caught": "ValueError", "message": "boom on attempt 3"},
        "after": "continued",
    }
    assert CALLS["flaky"] == 3
    assert flaky_step(instance)["status"] == "failed"


@pytest.mark.parametrize("name", RETRYING)
@pytest.mark.parametrize("error", ["NonRetryableError", "PermanentFailureError"])
def test_non_retryable_error_and_its_subclasses_get_exactly_one_attempt(
    account, clock, run_due, name, error
):
    # given a step raising NonRetryableError (or a subclass) with retries left
    config = {"retries": {"limit": 5, "delay": 1000}}
    instance = get_workflow(name, account=account).create(
        params={"fail_times": 99, "error": error, "config": config, "catch": True}
    )

    # when time passes
    clock.advance(3600)
    run_due()

    # then it ran once and run() caught it at once
    assert CALLS["flaky"] == 1
    assert attempts_of(instance) == [(1, False)]
    assert instance.status()["output"]["result"] == {
        "caught": error,
        "message": "boom on attempt 1",
    }
    assert instance.status()["status"] == "complete"


@pytest.mark.parametrize("name", RETRYING)
@pytest.mark.parametrize(
    "error", ["ValueError", "PaymentDeclinedError", "PermanentFailureError", "GatewayError"]
)
def test_uncaught_error_ends_the_instance_errored_with_the_real_class_name_and_message(
    account, clock, name, error
):
    # given a step failing with no retries left and a run() that does not catch
    config = {"retries": {"limit": 0, "delay": 0}}

    # when it runs
    instance = get_workflow(name, account=account).create(
        params={"fail_times": 1, "error": error, "config": config}
    )

    # then the instance is errored with {name, message} of the real exception class
    status = instance.status()
    assert status["status"] == "errored"
    assert status["error"] == {"name": error, "message": "boom on attempt 1"}
    assert status["output"] is None
    assert CALLS["after"] == 0


@pytest.mark.parametrize("error", ["ValueError", "PaymentDeclinedError", "NonRetryableError"])
def test_error_raised_in_run_outside_a_step_errors_the_instance_with_its_class(
    account, clock, error
):
    # given a run() raising outside any step
    # when it runs
    instance = get_workflow("raises-in-run", account=account).create(params={"error": error})

    # then the instance is errored with that class's name and message
    assert instance.status()["status"] == "errored"
    assert instance.status()["error"] == {"name": error, "message": "raised outside any step"}


@pytest.mark.parametrize(
    ("name", "sync_body"),
    [("timeouts-async", False), ("timeouts-async", True), ("timeouts-sync", False)],
)
def test_timed_out_attempt_is_a_workflow_timeout_error_and_is_retried(
    account, clock, run_due, name, sync_body
):
    # given a step (async or sync body) whose first attempt outlasts its 100 ms
    # timeout, with one retry
    instance = get_workflow(name, account=account).create(
        params={"timeout": 100, "limit": 1, "slow_attempts": 1, "sync_body": sync_body}
    )

    # then the first attempt failed with WorkflowTimeoutError and a retry is due
    step = instance.status()["steps"][0]
    assert step["status"] == "retrying"
    assert step["attempts"][0]["error"] == {
        "name": "WorkflowTimeoutError",
        "message": "Execution timed out after 100ms",
    }
    assert step["attempts"][0]["timed_out"] is True
    assert step["next_attempt_at"] == clock.current + dt.timedelta(seconds=1)

    # when the retry delay elapses
    clock.advance(1)
    run_due()

    # then the second attempt succeeded
    assert instance.status()["output"] == {"result": 2}
    assert CALLS["slow"] == 2


@pytest.mark.parametrize("name", ["timeouts-async", "timeouts-sync"])
def test_timed_out_attempts_exhausting_retries_raise_workflow_timeout_error_into_run(
    account, clock, name
):
    # given a step that always outlasts its 100 ms timeout, with no retries
    # when it runs
    instance = get_workflow(name, account=account).create(
        params={"timeout": 100, "limit": 0, "slow_attempts": 9}
    )

    # then run() caught a WorkflowTimeoutError
    assert instance.status()["output"] == {
        "caught": "WorkflowTimeoutError",
        "message": "Execution timed out after 100ms",
    }
    assert CALLS["slow"] == 1
