"""The binding: create, create_batch, get, instance handles, ids and statuses."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from tests.workflows import CALLS
from workflows_app.models import Instance, InstanceStatus
from workflows_app.sdk import (
    InstanceAlreadyExistsError,
    InstanceNotFoundError,
    InvalidInputError,
    get_workflow,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_without_id_uses_a_uuid(account, clock):
    # given a binding
    binding = get_workflow("echo-sync", account=account)

    # when an instance is created with no id and no params
    instance = binding.create()

    # then its id is a random UUID and run() saw it and no params
    assert str(uuid.UUID(instance.id, version=4)) == instance.id
    assert instance.status()["output"]["instance_id"] == instance.id
    assert instance.status()["output"]["payload"] is None


def test_create_with_an_id_and_params(account, clock):
    # given a binding
    binding = get_workflow("echo-sync", account=account)

    # when an instance is created with an id and params
    instance = binding.create(id="order-1", params={"amount": 12})

    # then the handle has that id and run() received the params
    assert instance.id == "order-1"
    assert instance.status()["output"]["payload"] == {"amount": 12}


@pytest.mark.parametrize("size", [1, 100])
def test_create_batch_creates_1_to_100_instances(account, clock, size):
    # given a batch of 1 or 100 items, with and without ids
    batch = [
        {"id": f"b-{i}", "params": {"i": i}} if i % 2 else {"params": {"i": i}} for i in range(size)
    ]

    # when it is created
    instances = get_workflow("echo-sync", account=account).create_batch(batch)

    # then every instance exists, in order, and ran with its params
    assert len(instances) == size
    assert [i.status()["output"]["payload"] for i in instances] == [{"i": i} for i in range(size)]
    assert [i.id for i in instances][1::2] == [f"b-{i}" for i in range(1, size, 2)]
    assert Instance.objects.filter(status="complete").count() == size


@pytest.mark.parametrize("size", [0, 101])
def test_create_batch_of_0_or_101_instances_is_rejected(account, clock, size):
    # given a batch of 0 or 101 items
    batch = [{"params": {"i": i}} for i in range(size)]

    # when it is created, then it is refused and nothing is created
    with pytest.raises(InvalidInputError, match="between 1 and 100 instances"):
        get_workflow("echo-sync", account=account).create_batch(batch)
    assert Instance.objects.count() == 0


def test_create_batch_is_all_or_nothing_on_a_duplicate_id(account, clock):
    # given an existing instance "dup"
    binding = get_workflow("echo-sync", account=account)
    binding.create(id="dup")

    # when a batch contains "dup", or the same id twice, then nothing is created
    with pytest.raises(InstanceAlreadyExistsError, match="dup"):
        binding.create_batch([{"id": "new-1"}, {"id": "dup"}])
    with pytest.raises(InstanceAlreadyExistsError, match="twice"):
        binding.create_batch([{"id": "new-2"}, {"id": "new-2"}])
    assert list(Instance.objects.values_list("instance_id", flat=True)) == ["dup"]


def test_get_returns_the_instance_with_that_id(account, clock):
    # given an instance
    binding = get_workflow("echo-sync", account=account)
    binding.create(id="known", params={"x": 1})

    # when it is fetched by id
    instance = binding.get("known")

    # then the handle is that instance
    assert instance.id == "known"
    assert instance.status()["output"]["payload"] == {"x": 1}


def test_get_of_a_missing_id_raises_instance_not_found_error(account, clock):
    # given a binding with no instance "missing"
    binding = get_workflow("echo-sync", account=account)

    # when it is fetched, then InstanceNotFoundError
    with pytest.raises(InstanceNotFoundError, match="'missing' not found"):
        binding.get("missing")


@pytest.mark.parametrize("instance_id", ["a", "_leading-underscore", "A1-b_2", "x" * 100])
def test_instance_ids_matching_the_pattern_up_to_100_characters_are_accepted(
    account, clock, instance_id
):
    # given a valid id, when an instance is created with it, then it exists under it
    instance = get_workflow("echo-sync", account=account).create(id=instance_id)
    assert instance.status()["output"]["instance_id"] == instance_id


@pytest.mark.parametrize(
    "instance_id",
    ["", "bad id!", "-leading-hyphen", "dot.ted", "slash/ed", "é", "newline\n", "x" * 101],
)
def test_instance_id_not_matching_the_pattern_or_over_100_characters_is_rejected(
    account, clock, instance_id
):
    # given an invalid id, when an instance is created with it, then InvalidInputError
    with pytest.raises(InvalidInputError, match=r"must match \^\[a-zA-Z0-9_\]"):
        get_workflow("echo-sync", account=account).create(id=instance_id)
    assert Instance.objects.count() == 0


def test_duplicate_instance_id_raises_instance_already_exists_error(account, clock):
    # given an instance "twice"
    binding = get_workflow("echo-sync", account=account)
    binding.create(id="twice")

    # when another is created with the same id, then InstanceAlreadyExistsError
    with pytest.raises(InstanceAlreadyExistsError, match='"twice" already exists'):
        binding.create(id="twice")
    assert Instance.objects.count() == 1


def test_status_returns_status_error_output_and_steps(account, clock):
    # given a completed instance with one step
    instance = get_workflow("replay-sync", account=account).create()

    # when its status is read
    status = instance.status()

    # then it has exactly the keys status, error, output, steps
    assert sorted(status) == ["error", "output", "status", "steps"]
    assert (status["status"], status["error"], status["output"]) == ("waiting", None, None)
    assert [s["name"] for s in status["steps"]] == ["first", "nap"]


def test_statuses_are_exactly_the_eight_cloudflare_strings(account, clock, run_due, blocked):
    # the values, exactly
    assert sorted(InstanceStatus.values) == sorted(
        [
            "queued",
            "running",
            "paused",
            "errored",
            "terminated",
            "complete",
            "waiting",
            "waitingForPause",
        ]
    )
    binding = get_workflow("status-probe", account=account)
    params = {"account": account.id}

    # queued: created, not picked up yet (the dispatcher rings after commit)
    with transaction.atomic():
        queued = binding.create(id="probe-1", params=params)
        assert queued.status()["status"] == "queued"

    # running: seen from inside its own step; waiting: sleeping
    assert queued.status()["steps"][0]["output"] == "running"
    assert queued.status()["status"] == "waiting"

    # paused, then complete
    queued.pause()
    assert queued.status()["status"] == "paused"
    queued.resume()
    clock.advance(3600)
    run_due()
    assert queued.status()["status"] == "complete"

    # errored
    failing = binding.create(id="probe-2", params={**params, "fail": True})
    clock.advance(3600)
    run_due()
    assert failing.status()["status"] == "errored"

    # terminated
    terminated = binding.create(id="probe-3", params=params)
    terminated.terminate()
    assert terminated.status()["status"] == "terminated"

    # waitingForPause: a pause requested while a step runs
    held = blocked.start(account, "blocking-sync", "probe-4")
    held.pause()
    assert held.status()["status"] == "waitingForPause"
    blocked.release()
    assert held.status()["status"] == "paused"
    assert CALLS["next"] == 0
