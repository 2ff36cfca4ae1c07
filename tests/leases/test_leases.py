"""Leases: renewed while a long step runs, and lost at once when the instance is terminated."""

from __future__ import annotations

import threading

import pytest

from tests.leases import workflows as wf
from workflows_app import services
from workflows_app.engine import registry, store
from workflows_app.models import Instance, StepAttempt
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _lease_workflows(settings):
    settings.WORKFLOW_MODULES = ["tests.leases.workflows"]
    settings.WORKFLOWS_LEASE_SECONDS = 0.3
    registry.reset()
    wf.reset()
    yield
    wf.release.set()


def _create_in_background(binding) -> threading.Thread:
    """The inline dispatcher advances the instance in the thread that creates it."""
    thread = threading.Thread(target=binding.create, kwargs={"id": "one"})
    thread.start()
    assert wf.started.wait(timeout=10)
    return thread


@pytest.mark.parametrize("name", ["lease-slow-async", "lease-slow-sync"])
def test_lease_is_renewed_while_a_step_outlives_it(account, name):
    binding = get_workflow(name, account=account)
    thread = _create_in_background(binding)
    pk = Instance.objects.get(instance_id="one").pk

    # Given a body running three times longer than the lease, when another
    # worker tries to take the instance mid-step, then it cannot.
    claims = []
    for _ in range(3):
        wf.release.wait(timeout=0.3)
        claims.append(store.claim(pk, lease_seconds=0.3))
    thread.join(timeout=10)

    assert claims == [None, None, None]
    assert binding.get("one").status()["output"] == "slow done"
    assert wf.ran == ["slow"]


@pytest.mark.parametrize("name", ["lease-blocking-async", "lease-blocking-sync"])
def test_terminate_during_a_running_step_runs_no_later_step(account, name):
    binding = get_workflow(name, account=account)
    thread = _create_in_background(binding)
    instance = Instance.objects.get(instance_id="one")

    services.instance_terminate(instance=instance)
    thread.join(timeout=10)  # the heartbeat notices the lost lease and stops the activation
    still_running = thread.is_alive()
    wf.release.set()

    assert not still_running
    assert wf.ran == ["first"]
    instance.refresh_from_db()
    assert instance.status == "terminated"
    # The running attempt's late result was fenced off: nothing was recorded for it.
    assert list(StepAttempt.objects.values_list("success", flat=True)) == [None]
