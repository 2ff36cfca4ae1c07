"""Fixtures the API tests and the CLI tests share: two accounts and the API's test workflows.

Both folders' conftest.py import them, so each fixture is written once and the
CLI drives the same workflows (tests/api/workflows.py) as the REST API.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from tests.api import workflows as api_workflows
from workflows_app import services
from workflows_app.engine import registry
from workflows_app.models import Account

__all__ = ["_api_workflows", "_no_persistent_connections", "account_a", "account_b", "enabled"]


@pytest.fixture(autouse=True)
def _api_workflows(_test_workflows, settings) -> Iterator[None]:
    """Only the API's own test workflows (plus the app's examples) are registered."""
    settings.WORKFLOW_MODULES = ["tests.api.workflows"]
    registry.reset()
    api_workflows.ATTEMPTS.clear()
    yield
    registry.reset()


@pytest.fixture(autouse=True)
def _no_persistent_connections() -> Iterator[None]:
    """Threads that serve requests or step bodies close their connection when done.

    With CONN_MAX_AGE > 0, idle step-body threads (and live_server threads) keep
    PostgreSQL sessions open, and the test database cannot be dropped at exit.
    """
    settings_dict = connections["default"].settings_dict
    before = settings_dict["CONN_MAX_AGE"]
    settings_dict["CONN_MAX_AGE"] = 0
    yield
    settings_dict["CONN_MAX_AGE"] = before


@pytest.fixture
def account_a(db) -> Account:
    return services.account_create(name="Account A")


@pytest.fixture
def account_b(db) -> Account:
    return services.account_create(name="Account B")


@pytest.fixture
def enabled(account_a) -> dict[str, Any]:
    """api-echo, api-approval and api-sleeper enabled for account A."""
    workflows = {
        name: services.workflow_enable(account=account_a, name=name)
        for name in ("api-echo", "api-approval", "api-sleeper")
    }
    return workflows
