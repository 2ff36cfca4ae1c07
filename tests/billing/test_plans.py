"""Plan limits are enforced where the work happens; paid overage is billed, not refused."""

from __future__ import annotations

import pytest

from workflows_app import services
from workflows_app.billing.plans import plan_named
from workflows_app.engine.errors import QuotaExceededError
from workflows_app.models import Account, StepAttempt
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def free_account(db) -> Account:
    return Account.objects.create(name="Free tier", plan=plan_named("free"))


def test_a_step_over_the_free_plans_cpu_limit_fails_with_cpu_limit_exceeded(free_account, clock):
    instance = get_workflow("meter-cpu-heavy", account=free_account).create()

    status = instance.status()
    assert status["status"] == "errored"
    assert status["error"]["name"] == "CpuLimitExceededError"
    assert status["error"]["message"].startswith("CPU limit exceeded: the attempt used ")
    assert status["error"]["message"].endswith("the account's plan allows 10 ms per step")
    assert StepAttempt.objects.get().error_name == "CpuLimitExceededError"


def test_the_paid_plan_allows_the_same_step(account, clock):
    instance = get_workflow("meter-cpu-heavy", account=account).create()

    assert instance.status()["output"] == "burned"


def test_creation_over_the_daily_invocation_limit_is_refused(free_account, clock):
    plan = free_account.plan
    plan.daily_invocations_limit = 3
    plan.save()
    binding = get_workflow("meter-tiny", account=free_account)
    binding.create_batch([{"params": n} for n in range(3)])

    with pytest.raises(QuotaExceededError) as refused:
        binding.create(params="one too many")

    assert str(refused.value).startswith("Daily invocation limit reached: 3 of 3 instances")
    assert 0 < refused.value.retry_after <= 86400
    assert free_account.instances.count() == 3


def test_the_daily_limit_resets_the_next_day(free_account, clock):
    plan = free_account.plan
    plan.daily_invocations_limit = 1
    plan.save()
    binding = get_workflow("meter-tiny", account=free_account)
    binding.create(params=1)

    clock.advance(86400)

    assert binding.create(params=2).status()["status"] == "complete"


def test_creation_over_the_storage_limit_is_refused(free_account, clock):
    plan = free_account.plan
    plan.storage_bytes_limit = 1000
    plan.save()
    binding = get_workflow("meter-tiny", account=free_account)
    binding.create(params="x" * 600)  # params and the echoed output: over 1000 bytes

    with pytest.raises(QuotaExceededError) as refused:
        binding.create(params="small")

    assert str(refused.value).startswith("Storage limit reached: ")


def test_paid_overage_is_billed_not_refused(account, clock):
    plan = account.plan
    plan.included_invocations = 1
    plan.save()
    binding = get_workflow("meter-tiny", account=account)

    created = [binding.create(params=n) for n in range(3)]

    assert [i.status()["status"] for i in created] == ["complete"] * 3


def test_the_api_answers_a_quota_with_429_and_retry_after(free_account, clock, client):
    plan = free_account.plan
    plan.daily_invocations_limit = 0
    plan.save()
    services.workflow_enable(account=free_account, name="meter-tiny")
    secret = services.token_create(account=free_account, name="t").secret

    response = client.post(
        f"/client/v4/accounts/{free_account.pk}/workflows/meter-tiny/instances",
        data="{}",
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert body["success"] is False
    assert body["errors"][0]["code"] == 971
    assert body["errors"][0]["message"].startswith("Daily invocation limit reached")
