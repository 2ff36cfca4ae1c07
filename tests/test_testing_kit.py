"""workflows_app.testing, used the way the README's "Testing your workflows" shows an author.

The kit's fixtures come from ``pytest_plugins = ["workflows_app.testing"]`` in
tests/conftest.py, as they would from an author's own conftest.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from workflows_app.billing.plans import plan_of
from workflows_app.engine import clock as engine_clock
from workflows_app.engine import registry
from workflows_app.sdk import (
    WorkflowEntrypoint,
    WorkflowEvent,
    WorkflowStep,
    WorkflowTimeoutError,
    get_workflow,
)
from workflows_app.testing import make_account, manual_clock, run_until_idle


class OnboardingWorkflow(WorkflowEntrypoint):
    """Welcome, a day's sleep, a reminder, then wait up to a week for the profile."""

    name = "kit-onboarding"

    def run(self, event: WorkflowEvent, step: WorkflowStep) -> dict[str, Any]:
        user = event.payload
        step.do("send welcome", lambda: {"to": user["email"], "template": "welcome"})
        step.sleep("wait a day", "1 day")
        step.do("send reminder", lambda: {"to": user["email"], "template": "reminder"})
        try:
            profile = step.wait_for_event(
                "await profile", type="profile-completed", timeout="7 days"
            )
        except WorkflowTimeoutError:
            return {"email": user["email"], "plan": "free"}
        return {"email": user["email"], "plan": profile["payload"]["plan"]}


@pytest.fixture(autouse=True)
def _register_onboarding(settings):
    # An author's workflows module is registered with their app; here this
    # test module stands in for it.
    settings.WORKFLOW_MODULES = [*settings.WORKFLOW_MODULES, __name__]
    registry.reset()


# --- Exactly as the README shows it ------------------------------------------


def test_onboarding_sleeps_a_day_then_takes_the_profile_event(
    workflows_clock, workflows_inline, workflows_account
):
    onboarding = get_workflow("kit-onboarding", account=workflows_account)
    instance = onboarding.create(id="ada", params={"email": "ada@example.com"})
    assert instance.status()["status"] == "waiting"  # asleep for a day

    workflows_clock.advance(dt.timedelta(days=1))
    run_until_idle()  # what the scheduler and its workers do
    assert [s["name"] for s in instance.status()["steps"]][-1] == "await profile"

    instance.send_event(type="profile-completed", payload={"plan": "pro"})
    assert instance.status()["output"] == {"email": "ada@example.com", "plan": "pro"}


# --- What the kit promises ---------------------------------------------------


def test_run_until_idle_runs_nothing_before_the_timer_is_due(
    workflows_clock, workflows_inline, workflows_account
):
    instance = get_workflow("kit-onboarding", account=workflows_account).create(
        params={"email": "ada@example.com"}
    )

    workflows_clock.advance(dt.timedelta(hours=23, minutes=59))
    assert run_until_idle() == 0
    assert [s["name"] for s in instance.status()["steps"]] == ["send welcome", "wait a day"]

    workflows_clock.advance(60)
    assert run_until_idle() == 1
    assert instance.status()["status"] == "waiting"
    assert [s["name"] for s in instance.status()["steps"]][-1] == "await profile"


def test_the_wait_times_out_after_a_week_on_the_manual_clock(
    workflows_clock, workflows_inline, workflows_account
):
    instance = get_workflow("kit-onboarding", account=workflows_account).create(
        params={"email": "grace@example.com"}
    )
    workflows_clock.advance(dt.timedelta(days=1))
    run_until_idle()

    workflows_clock.advance(dt.timedelta(days=7, seconds=1))
    run_until_idle()

    status = instance.status()
    assert status["status"] == "complete"
    assert status["output"] == {"email": "grace@example.com", "plan": "free"}


def test_manual_clock_is_the_engines_clock_inside_and_the_real_one_after():
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    with manual_clock(start) as clock:
        assert engine_clock.now() == start
        clock.advance(dt.timedelta(days=2))
        assert engine_clock.now() == start + dt.timedelta(days=2)

    assert abs(engine_clock.now() - timezone.now()) < dt.timedelta(minutes=1)


def test_make_account_is_on_the_paid_plan_unless_told_otherwise(db):
    assert plan_of(make_account()).name == "paid"
    assert plan_of(make_account(name="Cheap", plan="free")).name == "free"
