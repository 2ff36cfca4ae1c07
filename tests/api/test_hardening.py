"""REST API hardening: over-long integers, retention type slips, token errors, auth throttling."""

from __future__ import annotations

import itertools
import json

import pytest
from django.core.cache import cache
from django.test import Client

from tests.api.conftest import BASE, ApiClient, error_of, expired_token
from workflows_app import services
from workflows_app.models import ApiToken, Instance

_addresses = itertools.count(1)


@pytest.fixture
def a(account_a) -> str:
    return f"accounts/{account_a.pk}/workflows"


@pytest.fixture
def create_url(a, enabled) -> str:
    return f"{a}/api-echo/instances"


# --- bug 10: a JSON integer past Python's int-string limit ---------------------------


def test_an_integer_over_4300_digits_is_a_400_that_says_so(api, create_url):
    body = '{"instance_id": "big", "params": {"x": ' + "9" * 5_000 + "}}"

    response = api.post(create_url, raw=body)

    assert response.status_code == 400
    assert error_of(response) == {
        "code": 10001,
        "message": "Malformed JSON body: an integer has more than 4300 digits",
    }
    assert not Instance.objects.filter(instance_id="big").exists()


def test_an_integer_of_4300_digits_is_still_read(api, create_url):
    response = api.post(
        create_url, raw='{"instance_id": "big", "params": {"x": ' + "9" * 4_300 + "}}"
    )

    assert response.status_code == 200


# --- retention: a type slip is refused, not read as 0 -----------------------------------


@pytest.mark.parametrize("value", [True, False, 1.5, [1], {"days": 1}])
@pytest.mark.parametrize("field", ["success_retention", "error_retention"])
def test_a_retention_of_the_wrong_type_is_a_400_naming_the_field(api, create_url, field, value):
    response = api.post(create_url, {"instance_id": "keep", "instance_retention": {field: value}})

    assert response.status_code == 400, response.envelope
    assert field in error_of(response)["message"]
    assert not Instance.objects.filter(instance_id="keep").exists()


def test_a_workflows_default_retention_of_the_wrong_type_is_a_400(api, a, enabled):
    response = api.put(f"{a}/api-echo", {"default_retention": {"success_retention": True}})

    assert response.status_code == 400, response.envelope
    assert "success_retention" in error_of(response)["message"]


def test_retention_parse_refuses_bools_from_any_interface(account_a):
    from workflows_app.billing.plans import plan_of
    from workflows_app.billing.retention import parse_retention
    from workflows_app.engine.errors import InvalidInputError

    for value in ({"success_retention": True}, {"error_retention": False}, ["x"]):
        with pytest.raises(InvalidInputError, match="retention"):
            parse_retention(value, plan=plan_of(account_a))


# --- 401s: unknown, revoked and expired tokens look the same ------------------------------


def test_unknown_revoked_and_expired_tokens_get_identical_401s(enabled, account_a, token_a):
    path = f"accounts/{account_a.pk}/workflows"
    unknown = ApiClient("wfd_" + "x" * 43).get(path)
    expired = ApiClient(expired_token(account_a)).get(path)
    services.token_revoke(token=ApiToken.objects.get(account=account_a, name="a-write"))
    revoked = ApiClient(token_a).get(path)

    bodies = {json.dumps(r.envelope, sort_keys=True) for r in (unknown, expired, revoked)}
    assert [r.status_code for r in (unknown, expired, revoked)] == [401, 401, 401]
    assert len(bodies) == 1, bodies
    assert error_of(unknown) == {"code": 10000, "message": "Invalid API token"}


# --- throttling of authentication failures ----------------------------------------------


@pytest.fixture
def throttled(settings, db):
    settings.WORKFLOWS_AUTH_FAILURES_PER_CLIENT = 5
    settings.WORKFLOWS_AUTH_FAILURES_PER_NAME = 3
    settings.WORKFLOWS_AUTH_FAILURE_WINDOW_SECONDS = 600
    cache.clear()  # the cache table outlives transactional tests
    yield settings
    cache.clear()


def _from(address: str, token: str, path: str):
    """A GET from its own client address (the cache outlives transactional tests)."""
    response = Client(REMOTE_ADDR=address).get(
        f"{BASE}/{path}", headers={"Authorization": f"Bearer {token}"}
    )
    response.envelope = json.loads(response.content)  # type: ignore[attr-defined]
    return response


def _address() -> str:
    return f"10.77.{next(_addresses)}.{next(_addresses) % 250}"


def test_an_address_with_too_many_bad_tokens_gets_429_but_a_real_token_still_works(
    throttled, account_a, token_a
):
    path = f"accounts/{account_a.pk}/workflows"
    address = _address()
    # different prefixes each time, so only the per-address count can trip
    bad = [_from(address, f"wfd_{n:08d}{'x' * 30}", path) for n in range(5)]

    blocked = _from(address, f"wfd_{99:08d}{'x' * 30}", path)
    # Only failures are throttled: a neighbour guessing from the same address
    # (a shared NAT) does not lock out a client holding a real token.
    real = _from(address, token_a, path)
    elsewhere = _from(_address(), token_a, path)

    assert [r.status_code for r in bad] == [401] * 5
    assert blocked.status_code == 429
    assert real.status_code == 200
    assert 1 <= int(blocked["Retry-After"]) <= 600
    assert blocked.envelope["errors"][0]["code"] == 971
    assert "Too many failed authentication attempts" in blocked.envelope["errors"][0]["message"]
    assert elsewhere.status_code == 200


def test_a_token_prefix_guessed_from_many_addresses_gets_429(throttled, account_a, token_a):
    path = f"accounts/{account_a.pk}/workflows"
    prefix = token_a[: services.TOKEN_DISPLAY_CHARS]
    guesses = [_from(_address(), prefix + f"{n:040d}", path) for n in range(3)]

    blocked = _from(_address(), prefix + "0" * 40, path)
    real = _from(_address(), token_a, path)

    assert [r.status_code for r in guesses] == [401] * 3
    assert blocked.status_code == 429
    assert "Retry-After" in blocked
    # the real token shares the prefix and still works: only failures are throttled
    assert real.status_code == 200


def test_good_tokens_are_never_counted(throttled, account_a, token_a):
    path = f"accounts/{account_a.pk}/workflows"
    address = _address()

    answers = [_from(address, token_a, path).status_code for _ in range(8)]

    assert answers == [200] * 8
