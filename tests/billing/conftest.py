from __future__ import annotations

import pytest

from tests.billing import workflows
from workflows_app.engine import registry


@pytest.fixture(autouse=True)
def _billing_workflows(settings):
    settings.WORKFLOW_MODULES = ["tests.billing.workflows"]
    registry.reset()
    workflows.flaky_attempts.clear()
    yield
    registry.reset()
