"""API fixtures: two accounts, their tokens, and a client that speaks the envelope."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from tests.api.fixtures import *  # noqa: F403  (the shared fixtures, found by name)
from workflows_app import services
from workflows_app.models import Account

BASE = "/client/v4"


class ApiClient:
    """Django's test client with a bearer token, JSON bodies and envelope checks."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        all_headers = dict(headers or {})
        if self.token is not None:
            all_headers.setdefault("Authorization", f"Bearer {self.token}")
        data: Any = raw if raw is not None else (None if body is None else json.dumps(body))
        url = path if path.startswith("/") else f"{BASE}/{path}"
        kwargs: dict[str, Any] = {"headers": all_headers}
        if method == "GET":
            response = self.client.get(url, query or {}, **kwargs)
        else:
            if query:
                from urllib.parse import urlencode

                url += "?" + urlencode(query)
            response = self.client.generic(
                method, url, data if data is not None else "", content_type=content_type, **kwargs
            )
        body_json = json.loads(response.content)
        assert set(body_json) >= {"success", "errors", "messages", "result"}, body_json
        assert body_json["success"] is (response.status_code < 400), body_json
        response.envelope = body_json  # type: ignore[attr-defined]
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


def error_of(response: Any) -> dict[str, Any]:
    errors = response.envelope["errors"]
    assert errors, response.envelope
    return errors[0]


@pytest.fixture
def token_a(account_a) -> str:
    return services.token_create(account=account_a, name="a-write").secret


@pytest.fixture
def token_a_ro(account_a) -> str:
    return services.token_create(account=account_a, name="a-read", read_only=True).secret


@pytest.fixture
def token_b(account_b) -> str:
    return services.token_create(account=account_b, name="b-write").secret


@pytest.fixture
def api(token_a) -> ApiClient:
    return ApiClient(token_a)


@pytest.fixture
def api_ro(token_a_ro) -> ApiClient:
    return ApiClient(token_a_ro)


@pytest.fixture
def api_b(token_b) -> ApiClient:
    return ApiClient(token_b)


@pytest.fixture
def anonymous() -> ApiClient:
    return ApiClient(None)


def expired_token(account: Account) -> str:
    created = services.token_create(
        account=account, name="soon", expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    )
    created.token.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    created.token.save(update_fields=["expires_at"])
    return created.secret
