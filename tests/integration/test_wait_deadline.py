"""B23 of the fault review, with real processes: an event sent after a wait's deadline,
while the worker was stalled and the timeout not yet processed, is not taken."""

from __future__ import annotations

import signal
import time

import pytest

from tests.integration.conftest import wait_for
from workflows_app import services
from workflows_app.engine import registry
from workflows_app.models import Event, Instance, StepRecord, Workflow

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MODULES = "tests.integration.workflows,tests.integration.wait_workflows"


@pytest.fixture
def waits(stack, settings):
    settings.WORKFLOW_MODULES = MODULES.split(",")
    registry.reset()
    services.workflow_enable(account=stack.account, name="itest-late-event")
    stack.start_worker("w1", WORKFLOW_MODULES=MODULES)
    stack.start_scheduler(WORKFLOW_MODULES=MODULES)
    return stack


def test_an_event_sent_after_the_deadline_to_a_stalled_worker_is_not_taken(waits):
    # given an instance waiting 3 seconds for a "late" event
    instance = services.instance_create(
        workflow=Workflow.objects.get(account=waits.account, name="itest-late-event")
    )
    wait_for(
        lambda: StepRecord.objects.filter(instance=instance, name="w", status="waiting").exists(),
        timeout=30,
    )
    deadline = StepRecord.objects.get(instance=instance, name="w").wake_at

    # when the worker is stopped past the deadline, the event is sent, and the worker resumes
    waits.signal_group("w1", signal.SIGSTOP)
    try:
        time.sleep(6)  # the deadline passes; nothing can process the timeout
        services.event_send(instance=instance, event_type="late", payload="3 s late")
    finally:
        waits.signal_group("w1", signal.SIGCONT)

    # then the wait timed out, and the late event is still buffered, unconsumed
    waits.wait_status(instance, "complete", timeout=60)
    output = Instance.objects.values_list("output", flat=True).get(pk=instance.pk)
    assert output == {"timed_out": "Execution timed out after 3000ms"}
    event = Event.objects.get(instance=instance)
    assert event.created_at > deadline
    assert event.consumed_by is None
