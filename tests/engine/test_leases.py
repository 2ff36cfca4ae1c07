"""How long one activation holds its instance and its worker.

The lease is renewed while a long step runs and lost at once when the instance
is terminated; past its time budget an activation hands the worker back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.engine import workflows as wf
from workflows_app import services
from workflows_app.engine.journal import store
from workflows_app.models import Instance, StepAttempt
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def short_lease(settings) -> Iterator[None]:
    settings.WORKFLOWS_LEASE_SECONDS = 0.3
    yield
    wf.release.set()


def _create_in_background(binding) -> threading.Thread:
    """The inline dispatcher advances the instance in the thread that creates it."""
    thread = threading.Thread(target=binding.create, kwargs={"id": "one"})
    thread.start()
    assert wf.started.wait(timeout=10)
    return thread


@pytest.mark.usefixtures("short_lease")
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


@pytest.mark.usefixtures("short_lease")
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
