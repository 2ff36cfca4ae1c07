"""Bad input: a 4xx in the envelope with a precise message; never a 500, never a half-write."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import error_of
from workflows_app import services
from workflows_app.models import Event, Instance

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


@pytest.fixture
def a(account_a) -> str:
    return f"accounts/{account_a.pk}/workflows"


@pytest.fixture
def create_url(a, enabled) -> str:
    return f"{a}/api-echo/instances"


@pytest.fixture
def waiting(a, enabled) -> str:
    """The URL of an instance of api-approval waiting for its event."""
    services.instance_create(workflow=enabled["api-approval"], instance_id="w")
    return f"{a}/api-approval/instances/w"


def assert_error(response, status: int, code: int, message: str | None = None, contains=()):
    assert response.status_code == status, response.envelope
    error = error_of(response)
    assert error["code"] == code, error
    if message is not None:
        assert error["message"] == message
    for part in contains:
        assert part in error["message"], error["message"]
    assert response.envelope["result"] is None


# --- the body itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "contains"),
    [
        ('{"instance_id": ', "Malformed JSON body: Expecting value at line 1 column 17"),
        ("{'single': 1}", "Malformed JSON body: Expecting property name enclosed in double quotes"),
        ('{"params": NaN}', "Malformed JSON body: NaN is not valid JSON"),
        ('{"params": Infinity}', "Malformed JSON body: Infinity is not valid JSON"),
        ("[" * 100_000, "Malformed JSON body: nested deeper than 100 levels"),
        ('{"params": ' + "[" * 101 + "]" * 101 + "}", "nested deeper than 100 levels"),
    ],
)
def test_malformed_json_is_400(api, create_url, raw, contains):
    assert_error(api.post(create_url, raw=raw), 400, 10001, contains=[contains])
    assert not Instance.objects.exists()


def test_invalid_utf8_is_400(api, create_url):
    response = api.post(create_url, raw=b'{"params": "\xff"}')
    assert_error(response, 400, 10001, "The body is not valid UTF-8 (byte 12)")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(api, create_url, content_type):
    response = api.post(create_url, raw='{"params": 1}', content_type=content_type)
    assert_error(response, 415, 10001, contains=[content_type, "send application/json"])


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ('{"params": {"a": "x\\u0000y"}}', "body.params.a: contains a NUL character"),
        ('{"params": {"k\\u0000": 1}}', "contains a NUL character"),
        ('{"params": ["\\ud800"]}', "body.params[0]: contains a lone surrogate"),
        ('{"instance_id": "\\udfff"}', "body.instance_id: contains a lone surrogate"),
    ],
)
def test_nul_bytes_and_lone_surrogates_are_400(api, create_url, raw, where):
    assert_error(api.post(create_url, raw=raw), 400, 10001, contains=[where])
    assert not Instance.objects.exists()


def test_event_payload_with_nul_is_400_and_not_stored(api, waiting):
    response = api.post(f"{waiting}/events/approval", raw='{"x": "\\u0000"}')
    assert_error(response, 400, 10001, contains=["body.x: contains a NUL character"])
    assert not Event.objects.exists()


def test_unknown_fields_are_400(api, create_url):
    response = api.post(create_url, {"instance_id": "u", "parms": {}})
    assert_error(response, 400, 10001, "body.parms: unknown field")
    nested = api.post(create_url, {"instance_retention": {"forever": True}})
    assert_error(nested, 400, 10001, "body.instance_retention.forever: unknown field")
    assert not Instance.objects.exists()


@pytest.mark.parametrize(
    ("body", "contains"),
    [
        ({"instance_id": 42}, "body.instance_id: Input should be a valid string"),
        ({"instance_id": "bad id!"}, "body.instance_id: String should match pattern"),
        ({"instance_id": "x" * 101}, "body.instance_id: String should have at most 100 characters"),
        ({"instance_id": ""}, "body.instance_id: String should have at least 1 character"),
        ({"instance_id": "-starts-with-dash"}, "String should match pattern"),
        ({"location_hint": "mars"}, "body.location_hint: Input should be 'wnam'"),
        ([], "Input should be a valid dictionary"),
    ],
)
def test_invalid_create_fields_are_400(api, create_url, body, contains):
    assert_error(api.post(create_url, body), 400, 10001, contains=[contains])
    assert not Instance.objects.exists()


@pytest.mark.parametrize("reserved", ["batch", "terminate", "terminateAll", "cf_" + "a" * 64])
def test_reserved_instance_ids_are_400(api, create_url, reserved):
    assert_error(api.post(create_url, {"instance_id": reserved}), 400, 10001, contains=["reserved"])


def test_an_id_of_100_characters_is_fine(api, create_url):
    assert api.post(create_url, {"instance_id": "x" * 100}).status_code == 200


# --- sizes --------------------------------------------------------------------------


def test_params_over_1_mib_are_413_with_the_limit(api, create_url):
    response = api.post(create_url, {"instance_id": "big", "params": "x" * MIB})
    assert_error(response, 413, 10001, contains=["params is too large", "1048576 bytes (1 MiB)"])
    assert not Instance.objects.exists()


def test_params_just_under_1_mib_are_fine(api, create_url):
    response = api.post(create_url, {"instance_id": "fits", "params": "x" * (MIB - 2)})
    assert response.status_code == 200


def test_event_payload_over_1_mib_is_413(api, waiting):
    response = api.post(f"{waiting}/events/approval", {"blob": "y" * MIB})
    assert_error(response, 413, 10001, contains=["payload is too large", "1048576 bytes"])
    assert not Event.objects.exists()


def test_a_body_over_djangos_upload_limit_is_413(api, create_url, settings):
    response = api.post(create_url, raw=json.dumps({"params": "z" * (3 * MIB)}))
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert_error(response, 413, 10001, f"Request body too large: the limit is {limit} bytes")


def test_a_batch_over_100_is_400(api, create_url):
    response = api.post(f"{create_url}/batch", [{} for _ in range(101)])
    assert_error(response, 400, 10001, "A batch must have between 1 and 100 instances")
    assert_error(api.post(f"{create_url}/batch", []), 400, 10001)
    assert not Instance.objects.exists()


# --- conflicts ----------------------------------------------------------------------


def test_duplicate_instance_id_is_409_instance_already_exists(api, create_url):
    api.post(create_url, {"instance_id": "twice"})
    response = api.post(create_url, {"instance_id": "twice"})
    assert_error(response, 409, 10405, 'Workflow instance with id "twice" already exists')
    assert response["x-should-retry"] == "false"


def test_a_batch_with_an_existing_id_creates_nothing(api, create_url):
    api.post(create_url, {"instance_id": "taken"})
    response = api.post(f"{create_url}/batch", [{"instance_id": "fresh"}, {"instance_id": "taken"}])
    assert_error(response, 409, 10405, contains=["taken"])
    repeated = api.post(f"{create_url}/batch", [{"instance_id": "r"}, {"instance_id": "r"}])
    assert_error(repeated, 409, 10405, contains=["twice"])
    assert list(Instance.objects.values_list("instance_id", flat=True)) == ["taken"]


def test_terminating_a_complete_instance_is_409(api, create_url):
    api.post(create_url, {"instance_id": "done"})
    response = api.patch(f"{create_url}/done/status", {"status": "terminate"})
    assert_error(
        response,
        409,
        10406,
        "Cannot terminate instance since it is in a finite state (complete)",
    )


def test_restart_from_an_unknown_step_is_409(api, create_url):
    api.post(create_url, {"instance_id": "rs"})
    response = api.patch(f"{create_url}/rs/status", {"status": "restart", "from": {"name": "nope"}})
    assert_error(response, 409, 10406, 'Step "nope" not found in execution history')


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"status": "explode"},
            "body.status: Input should be 'pause', 'resume', 'terminate' or 'restart'",
        ),
        ({}, "body.status: Field required"),
        ({"status": "terminate", "rollback": True}, "Terminating with rollback is not supported"),
        ({"status": "pause", "from": {"name": "x"}}, '"from" only goes with status "restart"'),
        ({"status": "restart", "from": {"name": "x", "count": 0}}, None),
        ({"status": "restart", "from": {"name": "x", "type": "bogus"}}, None),
    ],
)
def test_bad_status_bodies_are_400(api, create_url, body, message):
    api.post(create_url, {"instance_id": "st"})
    response = api.patch(f"{create_url}/st/status", body)
    assert_error(response, 400, 10001, message)
    assert Instance.objects.get(instance_id="st").status == "complete"


# --- paths and queries ----------------------------------------------------------------


def test_missing_things_are_404_with_their_codes(api, a, enabled):
    missing = api.get(f"{a}/api-echo/instances/nope")
    assert_error(missing, 404, 10501, "Workflow instance 'nope' not found")
    assert_error(api.get(f"{a}/not-enabled"), 404, 10500, "Workflow 'not-enabled' not found")
    assert_error(api.put(f"{a}/not-registered", {}), 404, 10500, contains=["No workflow named"])


def test_put_with_a_mismatched_class_name_is_400(api, a):
    response = api.put(f"{a}/api-echo", {"class_name": "SomethingElse"})
    assert_error(response, 400, 10001, contains=["does not match the class registered"])


@pytest.mark.parametrize(
    ("url", "contains"),
    [
        ("api-echo/instances/bad%20id", "path.instance_id: String should match pattern"),
        ("API_ECHO/instances", "path.workflow_name: String should match pattern"),
        ("api-echo/instances?status=bogus", "query.status: Input should be"),
        ("api-echo/instances?per_page=1000", "query.per_page: Input should be less than or equal"),
        ("api-echo/instances?page=zero", "query.page: Input should be a valid integer"),
        ("api-echo/instances?date_start=yesterday", "'yesterday' is not an ISO 8601 date"),
        ("api-echo/instances?date_end=0001-01-01T00:00:00%2B05:00", "not an ISO 8601"),
        ("api-echo/instances?date_end=9999-12-31T23:59:59-05:00", "not an ISO 8601"),
        ("api-echo/instances?cursor=%25%25", "Invalid cursor"),
        ("api-echo/instances?cursor=MDAwMS0wMS0wMVQwMDowMDowMCswNTowMHwx", "Invalid cursor"),
        (
            "api-echo/instances?cursor=MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHw5OTk5OTk5OTk5OTk5OTk5OTk5"
            "OTk5OTk5OTk5OTk",
            "Invalid cursor",
        ),
        ("api-echo/instances/x/step?name=flaky&type=step", "must end with its counter"),
        ("api-echo/instances/x/step?name=flaky-1&type=sleep", "query.type: Input should be"),
        ("api-echo/instances/x/step", "query.name: Field required"),
    ],
)
def test_bad_paths_and_queries_are_400(api, a, enabled, url, contains):
    services.instance_create(workflow=enabled["api-echo"], instance_id="x")
    response = api.get(f"/client/v4/{a}/{url}")
    assert_error(response, 400, 10001, contains=[contains])


@pytest.mark.parametrize(
    "url",
    [
        "?search=%00",
        "/api-echo/instances?cursor=ab%00",
        "/api-echo/instances/x/step?name=echo%00-1&type=step",
        "/api-echo/instances/x/step?name=echo-1&type=step&extra%00=1",
    ],
)
def test_nul_in_query_strings_is_400(api, a, enabled, url):
    services.instance_create(workflow=enabled["api-echo"], instance_id="x")
    response = api.get(f"/client/v4/{a}{url}")
    assert_error(response, 400, 10001, contains=["contains a NUL character"])


def test_unknown_step_or_attempt_is_404(api, a, enabled):
    services.instance_create(workflow=enabled["api-echo"], instance_id="x")
    url = f"{a}/api-echo/instances/x/step"
    assert_error(api.get(url, query={"name": "echo-2", "type": "step"}), 404, 10501)
    assert_error(api.get(url, query={"name": "echo-1", "type": "step", "attempt": 5}), 404, 10501)


def test_bad_event_types_are_400(api, waiting):
    assert_error(api.post(f"{waiting}/events/no%20spaces", {}), 400, 10001, contains=["event_type"])
    assert_error(api.post(f"{waiting}/events/{'e' * 101}", {}), 400, 10001)


def test_events_to_a_finished_instance_are_409(api, create_url):
    api.post(create_url, {"instance_id": "fin"})
    response = api.post(f"{create_url}/fin/events/late", {})
    assert_error(response, 409, 10406, contains=["no longer accepts events"])


def test_unknown_routes_and_methods_get_the_envelope(api, a):
    assert_error(api.get("/client/v4/nothing"), 404, 7000, "No route for that URI")
    response = api.request("POST", a, {})
    assert_error(response, 405, 7001, "Method not allowed; this route takes GET")
    assert response["Allow"] == "GET"


def test_instance_retention_over_the_plan_maximum_is_a_400(api, create_url):
    response = api.post(
        create_url,
        {"instance_id": "keep-long", "instance_retention": {"success_retention": "4 days"}},
    )

    assert response.status_code == 400
    assert response.envelope["errors"][0]["message"] == (
        "success_retention of 4 days is over the free plan's maximum of 3 days"
    )
