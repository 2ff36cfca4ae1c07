"""step.do: sync and async bodies, the ctx argument, the decorator form, worker threads."""

from __future__ import annotations

import threading

import pytest

from tests.workflows import CALLS, SEEN
from workflows_app.sdk import get_workflow
from workflows_examples.models import ExampleOrder

pytestmark = pytest.mark.django_db(transaction=True)

FLAVOURS = ["steps-async", "steps-sync"]
DEFAULT_CONFIG = {
    "retries": {"limit": 5, "delay": "10 seconds", "backoff": "exponential"},
    "timeout": "10 minutes",
}


@pytest.mark.parametrize("name", FLAVOURS)
def test_step_function_may_be_sync_or_async(account, clock, name):
    # given a run() calling step.do with a plain function and with a coroutine function
    binding = get_workflow(name, account=account)

    # when it runs
    output = binding.create().status()["output"]

    # then step.do returned what each function returned, each having run once
    assert output[0] == "from a sync function"
    assert output[1] == "from an async function"
    assert CALLS["plain"] == 1
    assert CALLS["coroutine"] == 1


@pytest.mark.parametrize("name", FLAVOURS)
def test_step_function_with_a_ctx_parameter_receives_attempt_step_and_config(account, clock, name):
    # given a step function taking one parameter named ctx, with no config given
    binding = get_workflow(name, account=account)

    # when it runs
    output = binding.create().status()["output"]

    # then ctx is {"attempt", "step": {"name", "count"}, "config"} with the defaults
    assert output[2] == {
        "attempt": 1,
        "step": {"name": "with ctx", "count": 1},
        "config": DEFAULT_CONFIG,
    }


@pytest.mark.parametrize("name", FLAVOURS)
def test_decorator_form_runs_the_step_when_the_function_is_called(account, clock, name):
    # given @step.do("decorated", config=...) and a bare @step.do() on functions,
    # called with `await f()` in async run and `f()` in plain run
    binding = get_workflow(name, account=account)

    # when it runs
    instance = binding.create()

    # then each decorated function ran once as a step, with its config; a nameless
    # decorator names the step after the function
    output = instance.status()["output"]
    assert output[3] == {
        "name": "decorated",
        "config": {
            "retries": {"limit": 1, "delay": "2 seconds", "backoff": "constant"},
            "timeout": "10 minutes",
        },
    }
    assert output[4] == "default name"
    assert [s["name"] for s in instance.status()["steps"]] == [
        "sync function",
        "async function",
        "with ctx",
        "decorated",
        "named_after_function",
    ]
    assert CALLS["decorated"] == 1
    assert CALLS["named_after_function"] == 1


@pytest.mark.parametrize("name", ["orm-async", "orm-sync"])
def test_sync_step_functions_run_in_a_thread_where_the_orm_works(account, clock, name):
    # given a sync step function that writes and reads rows with the ORM
    binding = get_workflow(name, account=account)

    # when it runs (also from async def run, where the ORM would refuse to run on the loop)
    instance = binding.create(id="order-42")

    # then it ran in a worker thread and its write is in the database
    assert instance.status()["status"] == "complete"
    assert instance.status()["output"] == {"rows": 1}
    assert SEEN["orm thread"] != threading.main_thread().name
    assert ExampleOrder.objects.get(order_id="order-42").status == "written by a step"


def test_step_function_must_take_no_argument_or_a_single_ctx(account, clock):
    # given a step function whose one parameter is not named ctx
    # when step.do is called with it
    instance = get_workflow("bad-signature", account=account).create()

    # then run() caught InvalidStepError and the function never ran
    assert instance.status()["output"] == {
        "caught": "InvalidStepError",
        "message": 'A step function must take no argument, or a single parameter named "ctx"',
    }
    assert CALLS["needs_order"] == 0
