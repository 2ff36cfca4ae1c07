"""Shared fixtures: a real database, an inline dispatcher and a controllable clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from workflows_app.billing.plans import plan_named
from workflows_app.engine import clock as engine_clock
from workflows_app.engine import registry, scheduler
from workflows_app.models import Account


@pytest.fixture(autouse=True)
def _test_workflows(settings):
    """Register the workflows the engine tests use, alongside the shipped examples."""
    settings.WORKFLOW_MODULES = ["tests.workflows"]
    settings.WORKFLOWS_DISPATCHER = "workflows_app.engine.dispatch.InlineDispatcher"
    registry.reset()
    yield
    registry.reset()


@pytest.fixture
def clock() -> Iterator[engine_clock.ManualClock]:
    """The engine's clock, moved only by ``clock.advance(...)``."""
    manual = engine_clock.ManualClock()
    engine_clock.set_clock(manual)
    yield manual
    engine_clock.set_clock(None)


@pytest.fixture
def run_due():
    """Dispatch everything whose timer is due (what the scheduler process does)."""
    return scheduler.run_until_idle


@pytest.fixture
def account(db) -> Account:
    """An account on the Paid plan: no per-step CPU limit to trip over in tests."""
    return Account.objects.create(name="Test account", plan=plan_named("paid"))
