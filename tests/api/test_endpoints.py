"""Every endpoint's success path, through Django's test client, on a real database."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.api.conftest import error_of
from workflows_app import services
from workflows_app.models import AuditEntry, Instance, Workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def a(account_a) -> str:
    return f"accounts/{account_a.pk}/workflows"


# --- workflows ----------------------------------------------------------------------


def test_put_enables_a_registered_workflow_idempotently(api, a, account_a):
    first = api.put(
        f"{a}/api-echo", {"class_name": "ApiEcho", "script_name": "tests.api.workflows"}
    )
    again = api.put(f"{a}/api-echo", {})

    assert first.status_code == again.status_code == 200
    result = first.envelope["result"]
    assert result["name"] == "api-echo"
    assert result["class_name"] == "ApiEcho"
    assert result["script_name"] == "tests.api.workflows"
    assert result["is_deleted"] == 0
    assert result["terminator_running"] == 0
    assert again.envelope["result"]["id"] == result["id"]
    assert Workflow.objects.filter(account=account_a, name="api-echo").count() == 1


def test_get_list_counts_instances_per_status_in_one_query(
    api, a, enabled, django_assert_max_num_queries
):
    services.instance_create(workflow=enabled["api-echo"], instance_id="done")
    services.instance_create(workflow=enabled["api-sleeper"], instance_id="nap")
    services.instance_pause(instance=Instance.objects.get(instance_id="nap"))

    # auth (token lookup + last_used update) + count + page
    with django_assert_max_num_queries(5):
        response = api.get(a)

    assert response.status_code == 200
    by_name = {w["name"]: w for w in response.envelope["result"]}
    assert list(by_name) == ["api-approval", "api-echo", "api-sleeper"]
    assert by_name["api-echo"]["instances"]["complete"] == 1
    assert by_name["api-sleeper"]["instances"]["paused"] == 1
    assert by_name["api-approval"]["instances"] == {
        s: 0
        for s in [
            "queued",
            "running",
            "paused",
            "errored",
            "terminated",
            "complete",
            "waiting",
            "waitingForPause",
        ]
    }
    assert by_name["api-echo"]["triggered_on"] is not None
    assert response.envelope["result_info"] == {
        "page": 1,
        "per_page": 50,
        "count": 3,
        "total_count": 3,
        "total_pages": 1,
        "cursor": None,
    }
    searched = api.get(a, query={"search": "sleep", "per_page": 1})
    assert [w["name"] for w in searched.envelope["result"]] == ["api-sleeper"]


def test_get_one_workflow(api, a, enabled):
    response = api.get(f"{a}/api-approval")
    assert response.status_code == 200
    assert response.envelope["result"]["name"] == "api-approval"


def test_delete_workflow_removes_it_and_its_instances(api, a, enabled, account_a):
    services.instance_create(workflow=enabled["api-echo"], instance_id="gone")
    response = api.delete(f"{a}/api-echo")

    assert response.status_code == 200
    assert response.envelope["result"] == {"status": "ok", "success": True}
    assert not Workflow.objects.filter(account=account_a, name="api-echo").exists()
    assert not Instance.objects.filter(instance_id="gone").exists()
    assert api.get(f"{a}/api-echo").status_code == 404
    assert AuditEntry.objects.filter(action="workflow_delete", workflow_name="api-echo").exists()


# --- instances --------------------------------------------------------------------


def test_create_with_and_without_id(api, a, enabled):
    named = api.post(f"{a}/api-echo/instances", {"instance_id": "n-1", "params": [1, "two"]})
    unnamed = api.post(f"{a}/api-echo/instances", {})

    assert named.status_code == 200
    assert named.envelope["result"]["id"] == "n-1"
    assert named.envelope["result"]["status"] == "queued"
    assert set(named.envelope["result"]) == {
        "id",
        "status",
        "version_id",
        "workflow_id",
        "trigger_source",
    }
    assert len(unnamed.envelope["result"]["id"]) == 36  # a UUID
    assert Instance.objects.get(instance_id="n-1").output == {"params": [1, "two"]}


def test_create_accepts_retention_and_location_hint(api, a, enabled):
    response = api.post(
        f"{a}/api-echo/instances",
        {
            "instance_id": "r-1",
            "instance_retention": {"success_retention": "3 days", "error_retention": 1000},
            "location_hint": "weur",
        },
    )
    assert response.status_code == 200


@pytest.mark.parametrize("params", [None, 0, "text", [1, 2], {"nested": {"a": [True, None]}}])
def test_create_stores_any_json_params_as_sent(api, a, enabled, params):
    api.post(f"{a}/api-echo/instances", {"instance_id": "p", "params": params})
    got = api.get(f"{a}/api-echo/instances/p")
    assert got.envelope["result"]["params"] == params
    assert got.envelope["result"]["output"] == {"params": params}


def test_batch_create(api, a, enabled):
    response = api.post(
        f"{a}/api-echo/instances/batch",
        [{"instance_id": "b-1", "params": 1}, {"instance_id": "b-2"}],
    )
    assert response.status_code == 200
    assert [i["id"] for i in response.envelope["result"]] == ["b-1", "b-2"]
    assert Instance.objects.get(instance_id="b-1").params == 1


def test_get_instance_steps_order_and_simple(api, a, enabled):
    api.post(f"{a}/api-approval/instances", {"instance_id": "ap"})
    url = f"{a}/api-approval/instances/ap"

    full = api.get(url).envelope["result"]
    desc = api.get(url, query={"order": "desc"}).envelope["result"]
    simple = api.get(url, query={"simple": "true"}).envelope["result"]

    assert full["status"] == "waiting"
    assert full["trigger"] == {"source": "api"}
    assert full["success"] is None
    assert [s["name"] for s in full["steps"]] == ["flaky-1", "wait-approval-1"]
    assert [s["name"] for s in desc["steps"]] == ["wait-approval-1", "flaky-1"]
    assert simple["steps"] == []
    assert simple["step_count"] == 2
    step = full["steps"][0]
    assert set(step) == {"type", "name", "start", "end", "success", "output", "config", "attempts"}
    assert step["attempts"][0]["error"] == {"name": "ValueError", "message": "boom on attempt 1"}
    wait = full["steps"][1]
    assert set(wait) == {
        "type",
        "name",
        "start",
        "end",
        "finished",
        "error",
        "output",
        "event_type",
    }
    assert wait["event_type"] == "approval"


def test_sleep_steps_have_cloudflares_shape(api, a, enabled):
    api.post(f"{a}/api-sleeper/instances", {"instance_id": "s"})
    steps = api.get(f"{a}/api-sleeper/instances/s").envelope["result"]["steps"]
    assert steps[1]["type"] == "sleep"
    assert steps[1]["name"] == "nap-1"
    assert steps[1]["finished"] is False
    assert set(steps[1]) == {"type", "name", "start", "end", "finished", "error"}


def test_step_endpoint_output_error_and_attempts(api, a, enabled):
    api.post(f"{a}/api-approval/instances", {"instance_id": "st"})
    url = f"{a}/api-approval/instances/st/step"

    step = api.get(url, query={"name": "flaky-1", "type": "step"}).envelope["result"]
    first = api.get(url, query={"name": "flaky-1", "type": "step", "attempt": 1}).envelope
    second = api.get(url, query={"name": "flaky-1", "type": "step", "attempt": 2}).envelope
    waiting = api.get(url, query={"name": "wait-approval-1", "type": "waitForEvent"}).envelope

    assert step == {
        "status": "complete",
        "error": None,
        "output": "ok on attempt 2",
        "event_type": None,
    }
    assert first["result"]["status"] == "errored"
    assert first["result"]["error"] == {"name": "ValueError", "message": "boom on attempt 1"}
    assert second["result"]["output"] == "ok on attempt 2"
    assert waiting["result"]["status"] == "waiting"
    assert waiting["result"]["event_type"] == "approval"

    api.post(f"{a}/api-approval/instances/st/events/approval", {"ok": True})
    received = api.get(url, query={"name": "wait-approval-1", "type": "waitForEvent"}).envelope
    assert received["result"]["status"] == "complete"
    assert received["result"]["output"]["payload"] == {"ok": True}


def test_events_with_any_json_payload_and_empty_body(api, a, enabled):
    api.post(f"{a}/api-approval/instances", {"instance_id": "ev"})
    response = api.post(f"{a}/api-approval/instances/ev/events/other", raw="[1, 2]")
    assert response.status_code == 200
    assert response.envelope["result"]["instanceId"] == "ev"
    empty = api.post(f"{a}/api-approval/instances/ev/events/other", raw=b"", content_type="")
    assert empty.status_code == 200
    api.post(f"{a}/api-approval/instances/ev/events/approval", raw='"ada"')
    result = api.get(f"{a}/api-approval/instances/ev").envelope["result"]
    assert result["status"] == "complete"
    assert result["output"]["approved_by"] == "ada"


def test_status_pause_resume_terminate(api, a, enabled):
    api.post(f"{a}/api-sleeper/instances", {"instance_id": "lc"})
    url = f"{a}/api-sleeper/instances/lc/status"

    paused = api.patch(url, {"status": "pause"})
    assert paused.status_code == 200
    assert paused.envelope["result"]["status"] == "paused"
    assert "timestamp" in paused.envelope["result"]
    assert api.patch(url, {"status": "resume"}).envelope["result"]["status"] == "running"
    assert api.patch(url, {"status": "terminate"}).envelope["result"]["status"] == "terminated"
    assert api.get(f"{a}/api-sleeper/instances/lc").envelope["result"]["success"] is False
    assert (
        AuditEntry.objects.filter(instance_id="lc", action="terminate")
        .get()
        .actor.startswith("token:wfd_")
    )


def test_status_restart_from_a_step_keeps_earlier_steps(api, a, enabled):
    api.post(f"{a}/api-approval/instances", {"instance_id": "rs"})
    api.post(f"{a}/api-approval/instances/rs/events/approval", {"by": 1})
    response = api.patch(
        f"{a}/api-approval/instances/rs/status",
        {"status": "restart", "from": {"name": "wait-approval", "type": "waitForEvent"}},
    )
    assert response.status_code == 200
    result = api.get(f"{a}/api-approval/instances/rs").envelope["result"]
    assert result["status"] == "waiting"
    assert result["steps"][0]["attempts"][1]["success"] is True  # flaky-1 kept, not re-run
    assert len(result["steps"][0]["attempts"]) == 2


def test_delete_one_and_batch_delete(api, a, enabled):
    for name in ("d-1", "d-2", "d-3"):
        api.post(f"{a}/api-echo/instances", {"instance_id": name})

    one = api.delete(f"{a}/api-echo/instances/d-1")
    batch = api.post(f"{a}/api-echo/instances/batch/delete", {"instances": ["d-2", "nope", "d-3"]})

    assert one.envelope["result"] == {"id": "d-1"}
    assert batch.envelope["result"]["deleted"] == [{"id": "d-2"}, {"id": "d-3"}]
    assert batch.envelope["result"]["errors"] == [
        {"id": "nope", "code": 10501, "message": "Workflow instance 'nope' not found"}
    ]
    assert not Instance.objects.filter(instance_id__startswith="d-").exists()


# --- listing: filters, pages and cursors -------------------------------------------


@pytest.fixture
def ten(enabled) -> list[Instance]:
    """Ten instances of api-echo created a day apart, the last one paused-then-terminated."""
    start = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    made = []
    for n in range(10):
        instance = services.instance_create(workflow=enabled["api-echo"], instance_id=f"i{n}")
        Instance.objects.filter(pk=instance.pk).update(created_at=start + dt.timedelta(days=n))
        made.append(instance)
    Instance.objects.filter(instance_id="i9").update(status="terminated")
    return made


def test_list_filters_by_status_and_dates(api, a, ten):
    url = f"{a}/api-echo/instances"
    ids = lambda r: [i["id"] for i in r.envelope["result"]]  # noqa: E731

    assert ids(api.get(url, query={"status": "terminated"})) == ["i9"]
    assert ids(api.get(url, query={"status": "rollingBack"})) == []
    assert ids(api.get(url, query={"date_start": "2026-01-08"})) == ["i9", "i8", "i7"]
    assert ids(api.get(url, query={"date_end": "2026-01-02"})) == ["i1", "i0"]
    assert ids(
        api.get(url, query={"date_start": "2026-01-03T00:00:00Z", "date_end": "2026-01-04"})
    ) == ["i3", "i2"]


def test_list_pages(api, a, ten):
    response = api.get(f"{a}/api-echo/instances", query={"page": 2, "per_page": 4})
    assert [i["id"] for i in response.envelope["result"]] == ["i5", "i4", "i3", "i2"]
    info = response.envelope["result_info"]
    assert {k: info[k] for k in ("page", "per_page", "count", "total_count", "total_pages")} == {
        "page": 2,
        "per_page": 4,
        "count": 4,
        "total_count": 10,
        "total_pages": 3,
    }
    past_the_end = api.get(f"{a}/api-echo/instances", query={"page": 9, "per_page": 4})
    assert past_the_end.envelope["result"] == []


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_list_cursor_walks_everything_once(api, a, ten, direction):
    seen, cursor = [], None
    for _ in range(5):
        query = {"per_page": 3, "direction": direction} | ({"cursor": cursor} if cursor else {})
        response = api.get(f"{a}/api-echo/instances", query=query)
        seen += [i["id"] for i in response.envelope["result"]]
        cursor = response.envelope["result_info"]["cursor"]
        if cursor is None:
            break
    expected = [f"i{n}" for n in range(10)]
    assert seen == (expected if direction == "asc" else expected[::-1])


def test_workflow_not_enabled_for_the_account_is_404(api, a, account_a):
    response = api.post(f"{a}/api-echo/instances", {})
    assert response.status_code == 404
    assert error_of(response) == {"code": 10500, "message": "Workflow 'api-echo' not found"}
