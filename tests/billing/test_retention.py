"""Retention purges finished instances' state, keeps a tombstone, and frees exact storage."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum

from workflows_app import services
from workflows_app.models import Event, Instance, StepRecord, UsageDaily
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
    assert tombstone.purged_at == clock.current and tombstone.ended_at is not None
    assert not StepRecord.objects.filter(instance=tombstone).exists()
    assert not Event.objects.filter(instance=tombstone).exists()
    assert StepRecord.objects.filter(instance__instance_id="recent").exists()


def test_unfinished_instances_are_never_purged(account, clock):
    waiting = get_workflow("meter-mix", account=account).create(id="waiting")

    clock.advance(dt.timedelta(days=400))

    assert services.retention_purge() == 0
    assert waiting.status()["status"] == "waiting"


def test_the_free_plan_keeps_finished_state_three_days(db, clock):
    from workflows_app.models import Account
    from workflows_app.plans import plan_named

    free = Account.objects.create(name="Free", plan=plan_named("free"))
    get_workflow("meter-tiny", account=free).create(id="t", params="p")

    clock.advance(dt.timedelta(days=3) - dt.timedelta(seconds=1))
    kept = services.retention_purge()
    clock.advance(dt.timedelta(seconds=2))
    purged = services.retention_purge()

    assert (kept, purged) == (0, 1)
