"""CLI fixtures: the API tests' accounts and workflows, and the one account a command picks."""

from __future__ import annotations

import pytest

from tests.api.fixtures import *  # noqa: F403  (the shared fixtures, found by name)
from workflows_app.models import Account


@pytest.fixture
def only_account(account_a, enabled) -> Account:
    return account_a
