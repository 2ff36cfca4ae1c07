"""Defining workflows: the entrypoint, its event, its output, and registration."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from workflows_app.engine import registry
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("name", ["echo-async", "echo-sync"])
def test_run_return_value_is_the_output_for_async_and_plain_run(account, clock, name):
    # given a workflow whose run() (async or plain def) returns a value
    binding = get_workflow(name, account=account)

    # when an instance runs
    instance = binding.create(id="out-1", params={"n": 1})

    # then the instance is complete and its output is what run() returned
    status = instance.status()
    assert status["status"] == "complete"
    assert status["error"] is None
    assert status["output"]["payload"] == {"n": 1}


@pytest.mark.parametrize("name", ["echo-async", "echo-sync"])
def test_event_has_payload_timestamp_instance_id_and_workflow_name(account, clock, name):
    # given a workflow that returns what its event carries
    binding = get_workflow(name, account=account)
    created_at = clock.current

    # when an instance is created with params
    instance = binding.create(id="evt-1", params={"order": 7, "items": ["a", "b"]})

    # then the event has the params as payload, the creation time, the id and the name
    assert instance.status()["output"] == {
        "payload": {"order": 7, "items": ["a", "b"]},
        "timestamp": created_at.isoformat(),
        "instance_id": "evt-1",
        "workflow_name": name,
    }


def test_workflows_are_registered_from_workflow_modules(account, clock, settings):
    # given WORKFLOW_MODULES naming a module that defines a workflow
    settings.WORKFLOW_MODULES = ["tests.engine.registration.longest_name"]
    registry.reset()

    # when the workflow is looked up by name and run
    instance = get_workflow("a" * 64, account=account).create()

    # then it was found in that module
    assert registry.get("a" * 64).__module__ == "tests.engine.registration.longest_name"
    assert instance.status()["output"] == "sixty-four"


def test_workflows_are_registered_from_an_apps_workflows_module(account, clock, settings):
    # given an installed app with a workflows module, and no WORKFLOW_MODULES
    settings.WORKFLOW_MODULES = []
    settings.INSTALLED_APPS = [
        *settings.INSTALLED_APPS,
        "tests.engine.registration.extra_app.apps.ExtraAppConfig",
    ]
    registry.reset()

    # when its workflow is looked up by name and run
    instance = get_workflow("from-an-app", account=account).create()

    # then the app's workflows module provided it
    assert instance.status()["output"] == "found through the app's workflows module"
    assert "echo-async" not in registry.workflows()


@pytest.mark.parametrize(
    ("module", "shown"),
    [("bad_name", "'Not_Kebab_Case'"), ("trailing_newline", "'my-flow\\n'")],
)
def test_workflow_name_must_be_kebab_case(account, settings, module, shown):
    # given a module whose workflow name is not kebab-case
    settings.WORKFLOW_MODULES = [f"tests.engine.registration.{module}"]
    registry.reset()

    # when workflows are discovered, then the configuration is rejected
    with pytest.raises(ImproperlyConfigured, match="kebab-case") as err:
        get_workflow("not-kebab-case", account=account)
    assert f"invalid name {shown}" in str(err.value)


def test_workflow_name_longer_than_64_characters_is_rejected(account, settings):
    # given a module with a 64-character name (fine) and a 65-character one
    settings.WORKFLOW_MODULES = ["tests.engine.registration.too_long"]
    registry.reset()

    # when workflows are discovered, then the 65-character name is rejected
    with pytest.raises(ImproperlyConfigured, match=f"invalid name '{'b' * 65}'.*at most 64"):
        get_workflow("a" * 64, account=account)


def test_duplicate_workflow_names_are_rejected(account, settings):
    # given two modules each defining a workflow named "taken-name"
    settings.WORKFLOW_MODULES = [
        "tests.engine.registration.duplicate_one",
        "tests.engine.registration.duplicate_two",
    ]
    registry.reset()

    # when workflows are discovered, then the duplicate is rejected, naming both classes
    with pytest.raises(ImproperlyConfigured, match="Two workflows are named 'taken-name'") as err:
        get_workflow("taken-name", account=account)
    assert "duplicate_one.Original" in str(err.value)
    assert "duplicate_two.Impostor" in str(err.value)
