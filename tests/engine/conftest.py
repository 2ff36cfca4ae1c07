"""Helpers for the engine tests: their workflows, fresh counters, a step body held open."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from tests import workflows
from tests.engine import workflows as engine_workflows
from workflows_app.engine import registry
from workflows_app.sdk import WorkflowInstance, get_workflow


@pytest.fixture(autouse=True)
def _engine_workflows(_test_workflows: None, settings: Any) -> None:
    """Register this folder's own workflows next to ``tests/workflows.py``."""
    settings.WORKFLOW_MODULES = [*settings.WORKFLOW_MODULES, "tests.engine.workflows"]
    registry.reset()


@pytest.fixture(autouse=True)
def _fresh_counters() -> Iterator[None]:
    workflows.reset()
    engine_workflows.reset()
    yield
    workflows.reset()
    engine_workflows.reset()


class Blocked:
    """An instance whose first step body is running right now, held by the test.

    ``start`` creates the instance from another thread (the inline dispatcher
    runs the activation there) and returns once the body has started;
    ``release`` lets the body return and waits for the activation to end.
    """

    def __init__(self) -> None:
        self.thread: threading.Thread | None = None
        self.errors: list[BaseException] = []

    def start(
        self, account: Any, workflow_name: str, instance_id: str, params: Any = None
    ) -> WorkflowInstance:
        workflows.GATES["started"] = threading.Event()
        workflows.GATES["release"] = threading.Event()
        binding = get_workflow(workflow_name, account=account)

        def create() -> None:
            try:
                binding.create(id=instance_id, params=params)
            except BaseException as exc:  # reported by release()
                self.errors.append(exc)
            finally:
                connections.close_all()

        self.thread = threading.Thread(target=create, name="activation")
        self.thread.start()
        assert workflows.GATES["started"].wait(5), "the step body never started"
        return binding.get(instance_id)

    def release(self) -> None:
        workflows.GATES["release"].set()
        assert self.thread is not None
        self.thread.join(5)
        assert not self.thread.is_alive(), "the activation did not end"
        assert self.errors == []


@pytest.fixture
def blocked() -> Iterator[Blocked]:
    helper = Blocked()
    yield helper
    if helper.thread is not None and helper.thread.is_alive():
        workflows.GATES["release"].set()
        helper.thread.join(5)
