"""The one lifecycle entry point (services.instance_set_status) and the one restart-point parser."""

from __future__ import annotations

import pytest

from workflows_app import services
from workflows_app.engine.errors import InvalidInputError
from workflows_app.models import AuditEntry, Instance

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def waiting(enabled) -> Instance:
    """An api-approval instance past its flaky step, waiting for its event."""
    instance = services.instance_create(workflow=enabled["api-approval"], instance_id="w")
    instance.refresh_from_db()
    assert instance.status == "waiting"
    return instance


# --- instance_set_status ------------------------------------------------------------


def test_an_unknown_action_is_refused_and_changes_nothing(waiting):
    # when
    with pytest.raises(InvalidInputError) as refused:
        services.instance_set_status(instance=waiting, action="explode", actor="test")
    # then
    assert str(refused.value) == (
        "Unknown lifecycle action 'explode': use one of pause, resume, terminate, restart"
    )
    assert Instance.objects.get(pk=waiting.pk).status == "waiting"
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("action", ["pause", "resume", "terminate"])
def test_a_restart_point_with_any_other_action_is_refused(waiting, action):
    # when
    with pytest.raises(InvalidInputError) as refused:
        services.instance_set_status(
            instance=waiting, action=action, from_step={"name": "flaky"}, actor="test"
        )
    # then
    assert str(refused.value) == (
        f'A restart point (from_step) only goes with action "restart", not {action!r}'
    )
    assert Instance.objects.get(pk=waiting.pk).status == "waiting"
    assert not AuditEntry.objects.exists()


def test_each_action_goes_to_its_service_and_is_audited(waiting):
    # when / then
    paused = services.instance_set_status(instance=waiting, action="pause", actor="test")
    assert paused.status == "paused"
    resumed = services.instance_set_status(instance=waiting, action="resume", actor="test")
    assert resumed.status == "running"
    terminated = services.instance_set_status(instance=waiting, action="terminate", actor="test")
    assert terminated.status == "terminated"
    assert list(AuditEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "pause",
        "resume",
        "terminate",
    ]


def test_restart_from_a_step_keeps_the_steps_before_it(waiting):
    # when the instance restarts from its wait
    services.instance_set_status(
        instance=waiting,
        action="restart",
        from_step=services.RestartPoint(name="wait-approval", type="waitForEvent"),
        actor="test",
    )
    # then the flaky step stayed cached (it failed once, and did not run again)
    instance = Instance.objects.get(pk=waiting.pk)
    assert instance.status == "waiting"
    steps = list(instance.steps.order_by("seq").values_list("name", "status"))
    assert steps == [("flaky", "succeeded"), ("wait-approval", "waiting")]
    entry = AuditEntry.objects.get(action="restart")
    assert entry.detail == {
        "from_step": {"name": "wait-approval", "count": 1, "type": "waitForEvent"}
    }


def test_bulk_refuses_an_unknown_action_before_touching_any_instance(waiting):
    with pytest.raises(InvalidInputError, match="Bulk action must be one of pause, resume"):
        services.instances_bulk_action(
            instances=[waiting], action="explode", actor="test", reason=""
        )
    assert Instance.objects.get(pk=waiting.pk).status == "waiting"


# --- RestartPoint ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "count"),
    [
        ("charge-card#2", "charge-card", 2),
        ("charge-card", "charge-card", 1),
        ("a#b#3", "a#b", 3),  # only the last "#" separates the count
    ],
)
def test_parse_reads_the_consoles_name_hash_count(text, name, count):
    assert services.RestartPoint.parse(text) == services.RestartPoint(name=name, count=count)


@pytest.mark.parametrize("text", ["", "#2", "x#", "x#0", "x#-1", "x#two", "x#2.5"])
def test_parse_refuses_anything_else(text):
    with pytest.raises(InvalidInputError) as refused:
        services.RestartPoint.parse(text)
    assert str(refused.value) == (
        f"Restart point {text!r} must be a step name and its count, e.g. 'charge-card#1'"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"name": "s"}, services.RestartPoint(name="s", count=1, type="do")),
        ({"name": "s", "count": None, "type": None}, services.RestartPoint(name="s")),
        ({"name": "s", "type": "step"}, services.RestartPoint(name="s", type="do")),
        (
            {"name": "s", "count": 3, "type": "waitForEvent"},
            services.RestartPoint(name="s", count=3, type="waitForEvent"),
        ),
    ],
)
def test_from_mapping_reads_the_json_form(value, expected):
    assert services.RestartPoint.from_mapping(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"nme": "s"}, 'Restart "from" takes {"name", "count"?, "type"?}'),
        ({"name": 3}, 'Restart "from" takes {"name", "count"?, "type"?}'),
        ({"name": "s", "extra": 1}, 'Restart "from" takes {"name", "count"?, "type"?}'),
        (["name"], 'Restart "from" takes {"name", "count"?, "type"?}'),
        ({"name": "s", "count": -1}, "Restart from: count must be a positive integer"),
        ({"name": "s", "count": True}, "Restart from: count must be a positive integer"),
        ({"name": "s", "count": "2"}, "Restart from: count must be a positive integer"),
    ],
)
def test_from_mapping_refuses_anything_else(value, message):
    with pytest.raises(InvalidInputError) as refused:
        services.RestartPoint.from_mapping(value)
    assert str(refused.value) == message
