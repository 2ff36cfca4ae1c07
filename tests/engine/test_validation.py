"""Limits: step names, JSON outputs and params up to 1 MiB, steps per instance."""

from __future__ import annotations

import pytest

from tests.workflows import CALLS
from workflows_app.models import Instance, StepAttempt
from workflows_app.sdk import InvalidInputError, PayloadTooLargeError, get_workflow

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


@pytest.mark.parametrize("step_name", ["x" * 256, "ünïcode and spaces", "tab-free\u00a0name"])
def test_step_names_of_up_to_256_characters_are_accepted(account, clock, step_name):
    # given a valid step name
    # when the step runs
    instance = get_workflow("named-step", account=account).create(params={"name": step_name})

    # then it ran under that name
    assert instance.status()["output"] == "ran"
    assert instance.status()["steps"][0]["name"] == step_name


@pytest.mark.parametrize(
    "step_name", ["x" * 257, "line\nbreak", "nul{NUL}char", "tab\tchar", "escape\x1b", ""]
)
def test_step_name_over_256_characters_or_with_control_characters_is_rejected(
    account, clock, step_name
):
    # given a step name too long or containing a control character
    # when the step is called
    instance = get_workflow("named-step", account=account).create(params={"name": step_name})

    # then run() caught InvalidStepError and no step was recorded
    output = instance.status()["output"]
    assert output["caught"] == "InvalidStepError"
    assert (
        "exceeds max length (256 chars) or contains control characters" in output["message"]
        or output["message"] == "Step name must be a non-empty string"
    )
    assert CALLS["named"] == 0
    assert instance.status()["steps"] == []


@pytest.mark.parametrize(
    ("kind", "why"),
    [("object", "it is not JSON-serialisable"), ("NUL", "it contains a NUL character")],
)
def test_non_serialisable_output_errors_the_step_without_retry(account, clock, run_due, kind, why):
    # given a step returning a value that cannot be stored, with 3 retries allowed
    instance = get_workflow("bad-output", account=account).create(params={"kind": kind})
    clock.advance(3600)
    run_due()

    # then it ran once and the instance errored saying why
    assert CALLS["produce"] == 1
    status = instance.status()
    assert status["status"] == "errored"
    assert status["error"]["name"] == "StepOutputError"
    assert status["error"]["message"].startswith(
        f'The output of step "produce" cannot be stored: {why}'
    )
    assert status["steps"][0]["status"] == "failed"
    assert len(status["steps"][0]["attempts"]) == 1


def test_output_over_1_mib_errors_the_step_without_retry(account, clock, run_due):
    # given a step returning a value one byte over 1 MiB once encoded
    instance = get_workflow("bad-output", account=account).create(params={"kind": "over 1 MiB"})
    clock.advance(3600)
    run_due()

    # then it ran once and the instance errored saying how large it was
    assert CALLS["produce"] == 1
    assert instance.status()["error"] == {
        "name": "StepOutputError",
        "message": f'The output of step "produce" is too large: {MIB + 1} bytes, '
        f"the maximum is {MIB} bytes (1 MiB)",
    }


def test_output_of_exactly_1_mib_is_stored(account, clock):
    # given a step returning a value of exactly 1 MiB once encoded
    # when it runs
    instance = get_workflow("bad-output", account=account).create(params={"kind": "exactly 1 MiB"})

    # then it is stored and returned
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == MIB - 2


def test_run_output_must_be_json(account, clock):
    # given a run() returning a datetime
    # when it runs
    instance = get_workflow("bad-run-output", account=account).create()

    # then the instance is errored saying why
    assert instance.status()["status"] == "errored"
    assert instance.status()["error"]["name"] == "StepOutputError"
    assert instance.status()["error"]["message"].startswith(
        "The output of run() cannot be stored: it is not JSON-serialisable"
    )


def test_params_must_be_json_and_at_most_1_mib(account, clock):
    binding = get_workflow("echo-sync", account=account)

    # given params that are not JSON, then create is refused saying why
    with pytest.raises(InvalidInputError, match="params cannot be stored: it is not JSON"):
        binding.create(params={"when": object()})
    with pytest.raises(InvalidInputError, match="params cannot be stored: it contains a NUL"):
        binding.create(params={"text": "a\x00b"})

    # given params over 1 MiB, then create is refused as too large
    with pytest.raises(PayloadTooLargeError, match=f"params is too large: {MIB + 1} bytes"):
        binding.create(params="x" * (MIB - 1))

    # given params of exactly 1 MiB, then the instance is created and runs
    empty = len('{"types":[],"pad":""}')
    params = {"types": [], "pad": "x" * (MIB - empty)}
    instance = get_workflow("events-sync", account=account).create(params=params)
    assert instance.status()["status"] == "complete"
    assert Instance.objects.count() == 1


def test_event_payload_must_be_json_and_at_most_1_mib(account, clock):
    # given an instance waiting for an event
    instance = get_workflow("events-sync", account=account).create(params={"types": ["go"]})

    # when the payload is not JSON, or too large, then send_event is refused
    with pytest.raises(InvalidInputError, match="payload cannot be stored: it is not JSON"):
        instance.send_event(type="go", payload=object())
    with pytest.raises(PayloadTooLargeError, match="payload is too large"):
        instance.send_event(type="go", payload="x" * MIB)

    # and the instance still waits
    assert instance.status()["status"] == "waiting"


def test_steps_per_instance_are_limited_by_workflows_max_steps(account, clock, run_due, settings):
    # given WORKFLOWS_MAX_STEPS = 3 and a workflow doing a sleep, a wait and 5 steps
    settings.WORKFLOWS_MAX_STEPS = 3
    instance = get_workflow("many-steps", account=account).create(params={"steps": 5})

    # when the sleep and the wait are over
    clock.advance(1)
    run_due()
    instance.send_event(type="go")

    # then the 4th step.do raised a catchable StepLimitExceededError (sleeps and
    # waits do not count), and no 4th step was recorded
    assert instance.status()["output"] == {
        "done": [1, 2, 3],
        "caught": "StepLimitExceededError",
        "message": "The limit of 3 steps has been reached (setting WORKFLOWS_MAX_STEPS).",
    }
    assert StepAttempt.objects.count() == 3
