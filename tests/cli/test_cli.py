"""``manage.py workflows …`` through call_command, on the same services as the API."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from workflows_app import selectors, services
from workflows_app.models import Account, ApiToken, Instance, Membership

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("workflows", *args, stdout=out)
    return out.getvalue()


def run_json(*args: str) -> Any:
    return json.loads(run(*args, "--json"))


def test_accounts_and_tokens(db):
    account = run_json("accounts", "create", "Acme")
    assert Account.objects.get(pk=account["id"]).name == "Acme"

    created = run_json("tokens", "create", "--read-only", "--expires-in", "7", "--name", "ci")
    assert created["token"].startswith("wfd_")
    assert created["read_only"] is True
    token = selectors.token_authenticate(secret=created["token"])
    assert token.account_id == account["id"]
    assert token.expires_at is not None

    listed = run("tokens", "list")
    assert created["prefix"] in listed
    assert created["token"] not in listed

    run("tokens", "revoke", created["prefix"])
    with pytest.raises(selectors.TokenRejectedError, match="revoked"):
        selectors.token_authenticate(secret=created["token"])
    assert ApiToken.objects.get().revoked_at is not None


def test_token_create_prints_the_secret_once_for_people(only_account):
    text = run("tokens", "create")
    secret = next(w for w in text.split() if w.startswith("wfd_"))
    assert "will not be shown again" in text
    assert selectors.token_authenticate(secret=secret).read_only is False


def test_account_is_required_when_there_are_several(account_a, account_b):
    with pytest.raises(CommandError, match="Several accounts exist: pass --account ID"):
        run("list")
    assert run_json("list", "--account", account_b.pk) == []
    with pytest.raises(CommandError, match="No account 'nope'"):
        run("list", "--account", "nope")


def test_users_add(only_account):
    result = run_json("users", "add", "carol", "--role", "approver", "--password", "s3cret-pass")
    assert result == {
        "username": "carol",
        "account_id": only_account.pk,
        "role": "approver",
        "created": True,
    }
    user = get_user_model().objects.get(username="carol")
    assert user.check_password("s3cret-pass")
    run("users", "add", "carol", "--role", "admin")
    assert Membership.objects.get(user=user).role == "admin"


def test_list_describe_enable_delete(only_account):
    listed = run_json("list")
    assert [w["name"] for w in listed] == ["api-approval", "api-echo", "api-sleeper"]
    table = run("list")
    assert "NAME" in table
    assert "api-echo" in table
    assert "order-processing" in table  # registered (an example) but not enabled here

    enabled = run_json("enable", "order-processing")
    assert enabled["name"] == "order-processing"
    described = run_json("describe", "api-echo")
    assert described["instances"]["complete"] == 0
    assert "Last triggered" in run("describe", "api-echo")

    run("delete", "api-sleeper")
    assert [w["name"] for w in run_json("list")] == [
        "api-approval",
        "api-echo",
        "order-processing",
    ]


def test_trigger_and_instances_list(only_account):
    created = run_json("trigger", "api-echo", '{"n": 1}', "--id", "c-1")
    assert created["id"] == "c-1"
    assert created["trigger_source"] == "api"
    assert Instance.objects.get(instance_id="c-1").params == {"n": 1}
    run("trigger", "api-echo")
    listed = run_json("instances", "list", "api-echo", "--status", "complete")
    assert len(listed) == 2
    assert listed[1]["id"] == "c-1"
    reverse = run_json("instances", "list", "api-echo", "--reverse", "--per-page", "1")
    assert [i["id"] for i in reverse] == ["c-1"]
    assert run_json("instances", "list", "api-echo", "--date-start", "2000-01-01") != []
    assert run_json("instances", "list", "api-echo", "--date-end", "2000-01-01") == []
    assert "c-1" in run("instances", "list", "api-echo")


def test_trigger_errors_are_clean(only_account):
    with pytest.raises(CommandError, match="PARAMS is not valid JSON"):
        run("trigger", "api-echo", "{nope")
    run("trigger", "api-echo", "--id", "dup")
    with pytest.raises(CommandError, match=r'instance\.already_exists: .*"dup" already exists'):
        run("trigger", "api-echo", "--id", "dup")
    with pytest.raises(CommandError, match=r"workflow\.not_found"):
        run("trigger", "order-processing")


def test_describe_latest_send_event_and_lifecycle(only_account):
    run("trigger", "api-approval", "--id", "ap")
    described = run_json("instances", "describe", "api-approval")  # latest
    assert described["status"] == "waiting"
    assert [s["name"] for s in described["steps"]] == ["flaky-1", "wait-approval-1"]
    text = run("instances", "describe", "api-approval", "ap")
    assert "flaky-1 attempt 1: ValueError: boom on attempt 1" in text

    sent = run_json(
        "instances", "send-event", "api-approval", "latest", "--type", "approval",
        "--payload", '{"by": "ada"}',
    )  # fmt: skip
    assert sent["instanceId"] == "ap"
    assert Instance.objects.get(instance_id="ap").status == "complete"

    restarted = run_json(
        "instances", "restart", "api-approval", "ap",
        "--from-step-name", "wait-approval", "--from-step-type", "waitForEvent",
    )  # fmt: skip
    assert restarted["status"] == "queued"
    assert Instance.objects.get(instance_id="ap").status == "waiting"
    assert run_json("instances", "pause", "api-approval", "ap")["status"] == "paused"
    assert run_json("instances", "resume", "api-approval", "ap")["status"] == "running"
    assert "Terminated instance ap" in run("instances", "terminate", "api-approval", "ap")
    with pytest.raises(CommandError, match="finite state"):
        run("instances", "terminate", "api-approval", "ap")


def test_instances_delete_several(only_account, enabled):
    for name in ("x", "y"):
        services.instance_create(workflow=enabled["api-echo"], instance_id=name)
    result = run_json("instances", "delete", "api-echo", "x", "y")
    assert result == {"deleted": [{"id": "x"}, {"id": "y"}], "errors": []}
    with pytest.raises(CommandError, match="1 instance"):
        run("instances", "delete", "api-echo", "nope")
