"""The meters equal the sums over the journal, exactly, whatever happens."""

from __future__ import annotations

import pytest

from tests.billing.journal import journal, meters
from workflows_app import services
from workflows_app.engine import runner
from workflows_app.models import Instance, StepRecord
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


def _run_mix(account, clock, run_due, instance_id: str):
    instance = get_workflow("meter-mix", account=account).create(id=instance_id)
    instance.send_event(type="answer", payload={"yes": True})
    clock.advance(61)
    run_due()
    return instance


def test_meters_equal_the_journal_after_steps_retries_events_and_sleeps(account, clock, run_due):
    instance = _run_mix(account, clock, run_due, "mix-1")

    assert instance.status()["status"] == "complete"
    metered = meters(account)
    assert metered == journal(account)
    assert metered["invocations"] == 1
    assert metered["attempts"] == 5  # first, left, right, flaky twice
    assert metered["cpu_us"] >= 2000  # "left" burned 2 ms of CPU


def test_invocations_count_one_per_instance_including_batches(account, clock):
    binding = get_workflow("meter-tiny", account=account)
    binding.create(params="a")
    binding.create_batch([{"params": n} for n in range(4)])

    assert meters(account)["invocations"] == 5
    assert meters(account) == journal(account)


def test_replaying_a_finished_instance_counts_nothing_more(account, clock, run_due):
    instance = _run_mix(account, clock, run_due, "mix-2")
    before = meters(account)

    for _ in range(3):  # duplicate deliveries of the same "advance" message
        runner.advance(Instance.objects.get(instance_id=instance.id).pk)
    run_due()

    assert meters(account) == before


def test_deleting_and_restarting_drop_storage_by_exactly_what_they_remove(account, clock, run_due):
    kept = _run_mix(account, clock, run_due, "mix-3")
    gone = _run_mix(account, clock, run_due, "mix-4")
    restarted = _run_mix(account, clock, run_due, "mix-5")

    gone.delete()
    restarted.restart(from_step="flaky")

    assert meters(account)["stored"] == journal(account)["stored"]
    assert kept.status()["status"] == "complete"
    assert StepRecord.objects.filter(instance__instance_id="mix-5", name="flaky").count() == 1


def test_a_fenced_off_activation_meters_nothing(account, clock, run_due):
    """Terminated mid-run: the late attempt is rejected, and so is its meter."""
    instance = get_workflow("meter-mix", account=account).create(id="mix-6")
    services.instance_terminate(instance=Instance.objects.get(instance_id="mix-6"))

    runner.advance(Instance.objects.get(instance_id="mix-6").pk)

    assert instance.status()["status"] == "terminated"
    assert meters(account) == journal(account)
