"""System checks: a bad dispatcher or an out-of-range duration is refused at start-up."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from django.core.checks import CheckMessage
from django.test import override_settings

from workflows_app import checks
from workflows_app.engine.dispatch import BaseDispatcher


class Recording(BaseDispatcher):
    def dispatch(self, instance_pks: Sequence[int]) -> None:
        pass


class NotADispatcher:
    def dispatch(self, instance_pks: Sequence[int]) -> None:
        pass


def ids(messages: list[CheckMessage]) -> list[str]:
    return [message.id or "" for message in messages]


def test_the_project_settings_pass_every_check():
    # given the shipped settings (the tests' inline dispatcher included)
    # when every check runs
    found = checks.check_dispatcher() + checks.check_durations() + checks.check_duration_relations()

    # then none complains
    assert ids(found) == []


@pytest.mark.parametrize(
    "path",
    [
        "workflows_app.tasks.CeleryDispatcher",
        "workflows_app.engine.inline.InlineDispatcher",
        f"{__name__}.Recording",
    ],
)
def test_a_base_dispatcher_subclass_passes(path):
    with override_settings(WORKFLOWS_DISPATCHER=path):
        assert ids(checks.check_dispatcher()) == []


@pytest.mark.parametrize(
    "path",
    [
        "workflows_app.no_such_module.Dispatcher",
        "workflows_app.tasks.NoSuchDispatcher",
        "not a dotted path",
    ],
)
def test_a_dispatcher_that_does_not_import_is_e001_naming_the_setting(path):
    with override_settings(WORKFLOWS_DISPATCHER=path):
        found = checks.check_dispatcher()

    assert ids(found) == ["workflows.E001"]
    assert found[0].msg.startswith(f"WORKFLOWS_DISPATCHER {path!r} cannot be imported")


@pytest.mark.parametrize("path", [f"{__name__}.NotADispatcher", f"{__name__}.ids"])
def test_a_dispatcher_that_is_not_a_base_dispatcher_subclass_is_e002(path):
    with override_settings(WORKFLOWS_DISPATCHER=path):
        found = checks.check_dispatcher()

    assert ids(found) == ["workflows.E002"]
    assert found[0].msg == (
        f"WORKFLOWS_DISPATCHER {path!r} is not a subclass of "
        "workflows_app.engine.dispatch.BaseDispatcher"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKFLOWS_LEASE_SECONDS", 0),
        ("WORKFLOWS_LEASE_SECONDS", -5),
        ("WORKFLOWS_LEASE_SECONDS", "60"),
        ("WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS", 0),
        ("WORKFLOWS_SCHEDULER_POLL_SECONDS", -0.1),
        ("WORKFLOWS_ACTIVATION_BUDGET_SECONDS", -1),
        ("WORKFLOWS_PRECISE_TIMER_SECONDS", -1),
    ],
)
def test_a_duration_out_of_its_range_is_e003(name, value):
    with override_settings(**{name: value}):
        found = checks.check_durations()

    assert ids(found) == ["workflows.E003"]
    assert found[0].msg.startswith(f"{name} must be a number of seconds")


@pytest.mark.parametrize(
    ("name", "value"),
    [("WORKFLOWS_ACTIVATION_BUDGET_SECONDS", 0), ("WORKFLOWS_PRECISE_TIMER_SECONDS", 0)],
)
def test_a_budget_or_precise_timer_window_of_zero_is_allowed(name, value):
    with override_settings(**{name: value}):
        assert ids(checks.check_durations()) == []


@pytest.mark.parametrize("delay", ["soon", -1, "10 fortnights"])
def test_a_default_retry_delay_that_is_no_duration_is_e004(delay):
    with override_settings(WORKFLOWS_DEFAULT_RETRY_DELAY=delay):
        assert ids(checks.check_durations()) == ["workflows.E004"]


def test_a_step_timeout_maximum_below_the_default_step_timeout_is_e005():
    # given a maximum of 5 minutes, under the 10 minutes a step gets by default
    with override_settings(WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS=300):
        found = checks.check_duration_relations()

    # then every step.do without a timeout would be refused: an error
    assert ids(found) == ["workflows.E005"]


def test_a_hard_time_limit_not_above_budget_plus_longest_step_is_e006():
    # given the defaults: 600 s longest step, 60 s budget
    with override_settings(CELERY_TASK_TIME_LIMIT=660, CELERY_VISIBILITY_TIMEOUT=3600):
        found = checks.check_duration_relations()

    assert ids(found) == ["workflows.E006"]


def test_a_visibility_timeout_not_above_the_hard_time_limit_is_w001():
    with override_settings(CELERY_TASK_TIME_LIMIT=720, CELERY_VISIBILITY_TIMEOUT=720):
        found = checks.check_duration_relations()

    assert ids(found) == ["workflows.W001"]
