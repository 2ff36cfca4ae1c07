"""An activation hands the worker back once its time budget is spent."""

from __future__ import annotations

import pytest

from tests.leases import workflows as wf
from workflows_app.engine import registry
from workflows_app.models import StepAttempt
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _budget_workflows(settings):
    settings.WORKFLOW_MODULES = ["tests.leases.workflows"]
    registry.reset()
    wf.replays.clear()


def test_an_activation_past_its_budget_starts_no_new_step_and_is_dispatched_again(
    account, settings
):
    settings.WORKFLOWS_ACTIVATION_BUDGET_SECONDS = 0

    instance = get_workflow("budget-five-steps", account=account).create()

    # Each activation ran exactly one step, then handed the instance back.
    assert instance.status()["output"] == [0, 1, 2, 3, 4]
    assert len(wf.replays) == 5
    assert StepAttempt.objects.count() == 5


def test_within_its_budget_an_activation_runs_every_step(account):
    instance = get_workflow("budget-five-steps", account=account).create()

    assert instance.status()["output"] == [0, 1, 2, 3, 4]
    assert len(wf.replays) == 1


def test_a_step_timeout_above_the_maximum_is_refused_at_the_call(account):
    instance = get_workflow("budget-too-long-timeout", account=account).create()

    assert instance.status()["output"] == (
        'Step config for "slow": timeout must be at most 600 seconds '
        "(setting WORKFLOWS_STEP_TIMEOUT_MAX_SECONDS)"
    )
