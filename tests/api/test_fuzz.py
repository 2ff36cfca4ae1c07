"""Property-based fuzzing of the whole OpenAPI schema: no input may produce a 5xx.

Bounded (a few examples per operation) so it stays well under a minute. Half of
the generated requests are steered at real objects of the token's account, so
the fuzzer gets past the 404s and into the validation of bodies and queries.
"""

from __future__ import annotations

import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from project.wsgi import application
from workflows_app import services

schema = schemathesis.openapi.from_wsgi("/client/v4/openapi.json", application)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fuzz_target(account_a, enabled, token_a) -> dict[str, str]:
    services.instance_create(workflow=enabled["api-approval"], instance_id="x1")
    return {"account_id": account_a.pk, "token": token_a}


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_no_input_makes_a_server_error(case, fuzz_target):
    steer = zlib.crc32(repr(case.body).encode()) % 2 == 0
    if case.path_parameters and "account_id" in case.path_parameters:
        case.path_parameters["account_id"] = fuzz_target["account_id"]
        if steer and "workflow_name" in case.path_parameters:
            case.path_parameters["workflow_name"] = "api-approval"
        if steer and "instance_id" in case.path_parameters:
            case.path_parameters["instance_id"] = "x1"
    response = case.call(headers={"Authorization": f"Bearer {fuzz_target['token']}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    body = response.json()
    assert body["success"] is (response.status_code < 400)
    assert isinstance(body["errors"], list)
    # The status is documented and the body matches the documented schema.
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
