"""The official Cloudflare Python SDK against a real HTTP server running this API."""

from __future__ import annotations

import json

import pytest
from cloudflare import Cloudflare, ConflictError, NotFoundError

from workflows_app import services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cf(live_server, token_a) -> Cloudflare:
    return Cloudflare(api_token=token_a, base_url=live_server.url + "/client/v4", max_retries=0)


def test_sdk_round_trip_create_get_event_list(cf, account_a, enabled):
    a = account_a.pk

    created = cf.workflows.instances.create(
        "api-approval",
        account_id=a,
        instance_id="sdk-1",
        params={"order": 7},  # type: ignore[arg-type]
    )
    assert created.id == "sdk-1"
    assert created.status == "queued"
    assert created.trigger_source == "api"

    waiting = cf.workflows.instances.get("sdk-1", account_id=a, workflow_name="api-approval")
    assert waiting.status == "waiting"
    assert waiting.params == {"order": 7}
    assert waiting.version_id == created.version_id
    assert waiting.step_count == 2
    flaky, wait = waiting.steps
    assert flaky.type == "step"
    assert flaky.name == "flaky-1"
    assert flaky.success is True
    assert [a.success for a in flaky.attempts] == [False, True]
    assert flaky.attempts[0].error.message == "boom on attempt 1"
    assert flaky.config.retries.limit == 2
    assert wait.type == "waitForEvent"
    assert wait.name == "wait-approval-1"
    assert wait.finished is False

    sent = cf.workflows.instances.events.create(
        "approval",
        account_id=a,
        workflow_name="api-approval",
        instance_id="sdk-1",
        body={"by": "ada"},
    )
    assert sent.instance_id == "sdk-1"
    assert sent.timestamp.tzinfo is not None

    done = cf.workflows.instances.get("sdk-1", account_id=a, workflow_name="api-approval")
    assert done.status == "complete"
    assert done.success is True
    assert done.output == {"flaky": "ok on attempt 2", "approved_by": {"by": "ada"}}
    assert done.steps[1].finished is True

    listed = cf.workflows.instances.list("api-approval", account_id=a, per_page=10)
    assert [i.id for i in listed.result] == ["sdk-1"]
    assert listed.result_info.page == 1
    assert listed.result_info.per_page == 10
    assert [i.id for i in listed] == ["sdk-1"]  # auto-pagination stops on the empty page 2

    step = cf.workflows.instances.step(
        "sdk-1", account_id=a, workflow_name="api-approval", name="flaky-1", type="step"
    )
    assert step.status == "complete"
    assert step.output == "ok on attempt 2"


def test_sdk_params_as_the_sdk_types_them_a_json_string(cf, account_a, enabled):
    """The SDK types params as a JSON-encoded string: it is stored as that string."""
    a = account_a.pk
    cf.workflows.instances.create(
        "api-echo", account_id=a, instance_id="as-string", params=json.dumps({"n": 1})
    )
    got = cf.workflows.instances.get("as-string", account_id=a, workflow_name="api-echo")
    assert got.params == '{"n": 1}'
    assert got.output == {"params": '{"n": 1}'}


def test_sdk_status_edit_pause_resume_terminate_restart(cf, account_a, enabled):
    a = account_a.pk
    cf.workflows.instances.create("api-sleeper", account_id=a, instance_id="nap")
    kw = {"account_id": a, "workflow_name": "api-sleeper"}

    paused = cf.workflows.instances.status.edit("nap", status="pause", **kw)
    assert paused.status == "paused"
    resumed = cf.workflows.instances.status.edit("nap", status="resume", **kw)
    assert resumed.status in ("running", "waiting")
    terminated = cf.workflows.instances.status.edit("nap", status="terminate", **kw)
    assert terminated.status == "terminated"
    restarted = cf.workflows.instances.status.edit(
        "nap", status="restart", from_={"name": "before", "count": 1, "type": "do"}, **kw
    )
    assert restarted.status == "queued"
    assert cf.workflows.instances.get("nap", **kw).status == "waiting"


def test_sdk_bulk_create_and_workflow_get(cf, account_a, enabled):
    a = account_a.pk
    page = cf.workflows.instances.bulk(
        "api-echo", account_id=a, body=[{"instance_id": "b-1"}, {"instance_id": "b-2"}]
    )
    assert [i.id for i in page.result] == ["b-1", "b-2"]
    workflow = cf.workflows.get("api-echo", account_id=a)
    assert workflow.name == "api-echo"
    assert workflow.instances["complete"] == 2
    names = [w.name for w in cf.workflows.list(account_id=a)]
    assert names == ["api-approval", "api-echo", "api-sleeper"]


def test_sdk_workflow_update_and_delete(cf, account_a):
    a = account_a.pk
    updated = cf.workflows.update(
        "api-echo", account_id=a, class_name="ApiEcho", script_name="tests.api.workflows"
    )
    assert updated.name == "api-echo"
    assert updated.class_name == "ApiEcho"
    deleted = cf.workflows.delete("api-echo", account_id=a)
    assert deleted.status == "ok"


def test_sdk_sees_errors_as_api_errors(cf, account_a, account_b, enabled):
    with pytest.raises(NotFoundError) as missing:
        cf.workflows.instances.get("nope", account_id=account_a.pk, workflow_name="api-echo")
    assert missing.value.body["errors"][0]["code"] == 10501
    with pytest.raises(NotFoundError):
        cf.workflows.instances.list("api-echo", account_id=account_b.pk)
    services.instance_create(workflow=enabled["api-echo"], instance_id="dup")
    with pytest.raises(ConflictError) as conflict:
        cf.workflows.instances.create("api-echo", account_id=account_a.pk, instance_id="dup")
    assert conflict.value.status_code == 409
    assert conflict.value.body["errors"][0]["code"] == 10405
