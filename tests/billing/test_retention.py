"""Retention purges finished instances' state, keeps a tombstone, and frees exact storage."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum

from workflows_app import services
from workflows_app.billing.plans import plan_named
from workflows_app.engine.errors import InvalidInputError
from workflows_app.models import Account, Event, Instance, StepRecord, UsageDaily, Workflow
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


def _stored(account) -> int:
    return UsageDaily.objects.filter(account=account).aggregate(n=Sum("stored_bytes_delta"))["n"]


def test_purge_after_retention_keeps_a_tombstone_and_frees_exactly_its_bytes(
    account, clock, run_due
):
    binding = get_workflow("meter-mix", account=account)
    old = binding.create(id="old", params={"big": "y" * 2000})
    old.send_event(type="answer", payload="ok")
    clock.advance(61)
    run_due()
    row = Instance.objects.get(instance_id="old")
    old_bytes = (
        row.stored_bytes
        + StepRecord.objects.filter(instance=row).aggregate(n=Sum("stored_bytes"))["n"]
        + Event.objects.filter(instance=row).aggregate(n=Sum("stored_bytes"))["n"]
    )
    clock.advance(dt.timedelta(days=29))
    recent = binding.create(id="recent")
    recent.send_event(type="answer", payload="ok")
    clock.advance(61)
    run_due()
    before = _stored(account)

    clock.advance(dt.timedelta(days=1, seconds=1))  # "old" is now past 30 days
    purged = services.retention_purge()

    assert purged == 1
    assert _stored(account) == before - old_bytes
    tombstone = Instance.objects.get(instance_id="old")
    assert (tombstone.status, tombstone.params, tombstone.output) == ("complete", None, None)
    assert tombstone.purged_at == clock.current
    assert tombstone.ended_at is not None
    assert not StepRecord.objects.filter(instance=tombstone).exists()
    assert not Event.objects.filter(instance=tombstone).exists()
    assert StepRecord.objects.filter(instance__instance_id="recent").exists()


def test_unfinished_instances_are_never_purged(account, clock):
    waiting = get_workflow("meter-mix", account=account).create(id="waiting")

    clock.advance(dt.timedelta(days=400))

    assert services.retention_purge() == 0
    assert waiting.status()["status"] == "waiting"


def test_the_free_plan_keeps_finished_state_three_days(db, clock):
    free = Account.objects.create(name="Free", plan=plan_named("free"))
    get_workflow("meter-tiny", account=free).create(id="t", params="p")

    clock.advance(dt.timedelta(days=3) - dt.timedelta(seconds=1))
    kept = services.retention_purge()
    clock.advance(dt.timedelta(seconds=2))
    purged = services.retention_purge()

    assert (kept, purged) == (0, 1)


def test_an_instance_may_ask_for_a_shorter_retention(account, clock):
    instance = get_workflow("meter-tiny", account=account).create(
        id="brief", params="p", retention={"success_retention": "1 day"}
    )
    assert instance.status()["status"] == "complete"

    clock.advance(dt.timedelta(hours=23))
    kept = services.retention_purge()
    clock.advance(dt.timedelta(hours=1, seconds=1))

    assert (kept, services.retention_purge()) == (0, 1)


def test_a_workflow_default_retention_applies_to_its_instances(account, clock):
    binding = get_workflow("meter-tiny", account=account)
    services.workflow_set_retention(
        workflow=Workflow.objects.get(account=account, name="meter-tiny"),
        retention={"success_retention": "2 days", "error_retention": 3600_000},
    )
    binding.create(id="ok", params="p")

    clock.advance(dt.timedelta(days=2, seconds=1))

    assert services.retention_purge() == 1


def test_terminated_instances_keep_their_state_for_the_error_retention(account, clock):
    instance = get_workflow("meter-mix", account=account).create(
        id="stopped", retention={"success_retention": "10 days", "error_retention": "1 hour"}
    )
    instance.terminate()

    clock.advance(dt.timedelta(hours=1, seconds=1))

    assert services.retention_purge() == 1


def test_retention_over_the_plans_maximum_is_refused(account, clock):
    with pytest.raises(InvalidInputError) as refused:
        get_workflow("meter-tiny", account=account).create(
            params="p", retention={"success_retention": "60 days"}
        )

    assert str(refused.value) == (
        "success_retention of 60 days is over the paid plan's maximum of 30 days"
    )
    assert not Instance.objects.exists()


def test_a_restart_clears_a_pending_purge(account, clock, run_due):
    instance = get_workflow("meter-tiny", account=account).create(
        id="again", params="p", retention={"success_retention": "1 hour"}
    )
    instance.restart()
    row = Instance.objects.get(instance_id="again")

    assert row.status == "complete"  # ran again, and set a new purge time
    assert row.purge_after == row.ended_at + dt.timedelta(hours=1)
