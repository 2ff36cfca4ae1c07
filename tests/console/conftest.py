"""Console fixtures: users with roles in two accounts, and the demo workflows."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.console import workflows as console_workflows
from workflows_app.engine import registry
from workflows_app.models import Account, Membership

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _console_workflows(settings):
    settings.WORKFLOW_MODULES = ["tests.console.workflows"]
    settings.CONSOLE_POLL_SECONDS = 1
    registry.reset()
    console_workflows.gate.clear()
    yield
    console_workflows.gate.set()


@pytest.fixture
def other_account(db) -> Account:
    return Account.objects.create(name="Other tenant")


def make_member(account: Account, username: str, role: str):
    user = get_user_model().objects.create_user(username, password=PASSWORD)
    Membership.objects.create(account=account, user=user, role=role)
    return user


@pytest.fixture
def member(account):
    """Factory: a user with ``role`` in the test account."""
    return lambda username, role: make_member(account, username, role)
