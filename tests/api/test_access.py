"""Authentication, read-only tokens, and tenant isolation on EVERY route.

The route list is generated from the ninja API itself, so a new route is
covered by these matrices the day it is added.
"""

from __future__ import annotations

from typing import Any

import pytest

from project.api import api as ninja_api
from tests.api.conftest import ApiClient, error_of, expired_token
from workflows_app import services
from workflows_app.models import ApiToken, Instance

pytestmark = pytest.mark.django_db(transaction=True)

SAFE = {"GET", "HEAD", "OPTIONS"}
# What a route needs besides its path to get past input validation.
EXAMPLES: dict[str, dict[str, Any]] = {
    "instance_create_batch": {"body": [{"instance_id": "new-1"}]},
    "instance_delete_batch": {"body": {"instances": ["x1"]}},
    "instance_status_edit": {"body": {"status": "pause"}},
    "instance_step": {"query": {"name": "echo-1", "type": "step"}},
    "instance_event_send": {"body": {"hello": "world"}},
}


def routes() -> list[tuple[str, str, str]]:
    """(method, path template, view name) for every operation of the API."""
    found = []
    for _prefix, router in ninja_api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                for method in operation.methods:
                    found.append((method, path, operation.view_func.__name__))
    return found


ROUTES = routes()


def test_the_matrix_covers_every_route():
    assert len(ROUTES) == 14
    assert {name for _, _, name in ROUTES} >= set(EXAMPLES)


def call(client: ApiClient, method: str, path: str, view: str, account_id: str) -> Any:
    url = path.format(
        account_id=account_id, workflow_name="api-echo", instance_id="x1", event_type="ping"
    ).lstrip("/")
    example = EXAMPLES.get(view, {})
    body = example.get("body", {} if method not in SAFE and method != "DELETE" else None)
    return client.request(method, url, body, query=example.get("query"))


@pytest.fixture
def world(account_a, enabled) -> None:
    """Account A has api-echo enabled and a completed instance x1."""
    services.instance_create(workflow=enabled["api-echo"], instance_id="x1")


@pytest.mark.parametrize(("method", "path", "view"), ROUTES, ids=[f"{m} {v}" for m, _, v in ROUTES])
def test_other_accounts_token_gets_the_missing_object_404(
    world, api_b, account_a, method, path, view
):
    foreign = call(api_b, method, path, view, account_a.pk)
    missing = call(api_b, method, path, view, "0" * 32)

    assert foreign.status_code == 404, foreign.envelope
    assert missing.status_code == 404
    normalise = lambda r: [  # noqa: E731
        {**e, "message": e["message"].replace(account_a.pk, "0" * 32)} for e in r.envelope["errors"]
    ]
    assert normalise(foreign) == normalise(missing)
    assert error_of(foreign)["code"] == 7003
    # and nothing happened to account A's data
    assert Instance.objects.filter(account=account_a, instance_id="x1").exists()
    assert not Instance.objects.filter(instance_id="new-1").exists()


@pytest.mark.parametrize(("method", "path", "view"), ROUTES, ids=[f"{m} {v}" for m, _, v in ROUTES])
def test_read_only_token_may_read_but_not_write(world, api_ro, account_a, method, path, view):
    response = call(api_ro, method, path, view, account_a.pk)
    if method in SAFE:
        assert response.status_code == 200, response.envelope
    else:
        assert response.status_code == 403, response.envelope
        assert error_of(response) == {
            "code": 10000,
            "message": "This API token is read-only; it cannot make changes",
        }
    assert Instance.objects.filter(account=account_a, instance_id="x1").exists()


@pytest.mark.parametrize(("method", "path", "view"), ROUTES, ids=[f"{m} {v}" for m, _, v in ROUTES])
def test_every_route_needs_a_token(world, anonymous, account_a, method, path, view):
    response = call(anonymous, method, path, view, account_a.pk)
    assert response.status_code == 401
    assert error_of(response)["code"] == 10000
    assert "Authorization" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Basic dXNlcjpwYXNz", "Malformed Authorization header: expected 'Bearer <token>'"),
        ("Bearer", "Malformed Authorization header: expected 'Bearer <token>'"),
        ("Bearer wfd_not-a-real-token", "Invalid API token"),
        ("Bearer " + "x" * 500, "Invalid API token"),
        ("Bearer tökén", "Invalid API token"),
    ],
)
def test_bad_authorization_headers_are_401(world, anonymous, account_a, header, message):
    response = anonymous.get(
        f"accounts/{account_a.pk}/workflows", headers={"Authorization": header}
    )
    assert response.status_code == 401
    assert error_of(response) == {"code": 10000, "message": message}


def test_revoked_token_is_401(world, account_a, token_a, api):
    token = ApiToken.objects.get(account=account_a, name="a-write")
    services.token_revoke(token=token)
    response = api.get(f"accounts/{account_a.pk}/workflows")
    assert response.status_code == 401
    # the same words as an unknown token: a 401 never confirms a secret was once real
    assert error_of(response) == {"code": 10000, "message": "Invalid API token"}


def test_expired_token_is_401(world, account_a):
    client = ApiClient(expired_token(account_a))
    response = client.get(f"accounts/{account_a.pk}/workflows")
    assert response.status_code == 401
    assert error_of(response) == {"code": 10000, "message": "Invalid API token"}


def test_tokens_are_stored_hashed_and_use_is_recorded(world, account_a, token_a, api):
    token = ApiToken.objects.get(account=account_a, name="a-write")
    assert token_a not in {token.token_hash, token.prefix}
    assert token_a.startswith(token.prefix)
    assert len(token.token_hash) == 64
    assert token.last_used_at is None
    assert api.get(f"accounts/{account_a.pk}/workflows").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_docs_and_schema_are_public(anonymous, db):
    schema = anonymous.client.get("/client/v4/openapi.json")
    assert schema.status_code == 200
    assert "/client/v4/accounts/{account_id}/workflows" in schema.json()["paths"]
    docs = anonymous.client.get("/client/v4/docs")
    assert docs.status_code == 200
