"""Shared fixtures: a real database, an inline dispatcher and a controllable clock."""

from __future__ import annotations

import pytest

from workflows_app import testing
from workflows_app.engine import registry
from workflows_app.models import Account

# The authors' test kit: workflows_clock, workflows_inline, workflows_account.
pytest_plugins = ["workflows_app.testing"]


@pytest.fixture(autouse=True)
def _test_workflows(settings):
    """Register the workflows the engine tests use, alongside the shipped examples."""
    settings.WORKFLOW_MODULES = ["tests.workflows"]
    settings.WORKFLOWS_DISPATCHER = "workflows_app.engine.inline.InlineDispatcher"
    registry.reset()
    yield
    registry.reset()


@pytest.fixture
def clock(workflows_clock: testing.ManualClock) -> testing.ManualClock:
    """The engine's clock, moved only by ``clock.advance(...)`` (the kit's)."""
    return workflows_clock


@pytest.fixture
def run_due():
    """Dispatch everything whose timer is due (what the scheduler process does)."""
    return testing.run_until_idle


@pytest.fixture
def account(workflows_account: Account) -> Account:
    """An account on the Paid plan: no per-step CPU limit to trip over in tests."""
    return workflows_account
