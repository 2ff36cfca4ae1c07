"""Console pages through Django's test client: access, roles, escaping, decisions, lists."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, reverse

from tests.console import workflows as console_workflows
from tests.console.conftest import PASSWORD, make_member
from workflows_app.console import urls as console_urls
from workflows_app.models import AuditEntry, Decision, Instance
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


def _review(account, id_="pr-1"):
    return get_workflow("code-review", account=account).create(
        id=id_, params={"repo": "acme/api", "number": 1, "title": "T", "author": "bob"}
    )


def _client_for(client, user):
    client.login(username=user.get_username(), password=PASSWORD)
    return client


def test_every_page_requires_sign_in(client, account):
    response = client.get(reverse("console:instances", args=[account.pk]))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def _account_routes():
    """Every console route that takes an account, with placeholder arguments."""
    for pattern in console_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        names = re.findall(r"<(?:\w+:)?(\w+)>", str(pattern.pattern))
        if "account_id" in names:
            yield pattern.name, names


@pytest.mark.parametrize("route", [name for name, _ in _account_routes()])
def test_member_of_another_account_gets_404_on_every_route(client, account, other_account, route):
    """Generated from the URL conf: a new route is covered without touching this test."""
    _review(account)
    step_pk = Instance.objects.get().steps.filter(type="waitForEvent").first().pk
    outsider = make_member(other_account, "outsider", "admin")
    values = {
        "account_id": account.pk,
        "workflow_name": "code-review",
        "instance_id": "pr-1",
        "action": "pause",
        "step_pk": step_pk,
    }
    names = dict(_account_routes())[route]
    url = reverse(f"console:{route}", kwargs={n: values[n] for n in names})
    client = _client_for(client, outsider)

    response = (
        client.post(url)
        if route in {"instance-action", "approval-decide", "bulk"}
        else client.get(url)
    )

    assert response.status_code == 404
    assert Instance.objects.get().status == "waiting"


def test_viewer_cannot_act_and_approver_cannot_operate(client, account, member):
    _review(account)
    instance_url = reverse(
        "console:instance-action", args=[account.pk, "code-review", "pr-1", "terminate"]
    )
    viewer = member("vera", "viewer")
    approver = member("abby", "approver")

    as_viewer = _client_for(client, viewer).post(instance_url, {"reason": "x"})
    client.logout()
    as_approver = _client_for(client, approver).post(instance_url, {"reason": "x"})

    assert (as_viewer.status_code, as_approver.status_code) == (403, 403)
    assert Instance.objects.get().status == "waiting"


def test_operator_terminates_with_a_reason_that_lands_in_the_audit_log(client, account, member):
    _review(account)
    operator = member("otto", "operator")
    url = reverse("console:instance-action", args=[account.pk, "code-review", "pr-1", "terminate"])

    response = _client_for(client, operator).post(url, {"reason": "duplicate PR"})

    assert response.status_code == 302
    assert Instance.objects.get().status == "terminated"
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.instance_id, entry.reason) == (
        "user:otto",
        "terminate",
        "pr-1",
        "duplicate PR",
    )
    audit_page = client.get(reverse("console:audit", args=[account.pk]))
    assert "duplicate PR" in audit_page.content.decode()


def test_operator_restarts_from_the_step_chosen_in_the_form(client, account, member):
    get_workflow("console-many-steps", account=account).create(id="m", params={"n": 3})
    kept = Instance.objects.get().steps.get(name="s0").pk
    operator = member("otto", "operator")
    url = reverse(
        "console:instance-action", args=[account.pk, "console-many-steps", "m", "restart"]
    )

    response = _client_for(client, operator).post(url, {"from_step": "s1#1", "reason": "redo"})

    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.reason, entry.detail) == (
        "restart",
        "redo",
        {"from_step": {"name": "s1", "count": 1, "type": "do"}},
    )
    instance = Instance.objects.get()
    assert instance.status == "complete"
    assert instance.steps.get(name="s0").pk == kept


def test_outputs_and_errors_render_escaped(client, account, member):
    get_workflow("console-hostile", account=account).create(id="evil")
    viewer = member("vera", "viewer")

    page = _client_for(client, viewer).get(
        reverse("console:instance", args=[account.pk, "console-hostile", "evil"])
    )
    html = page.content.decode()

    assert page.status_code == 200
    assert "<script>window.pwned" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;window.pwned = true&lt;/script&gt;" in html


def test_first_decision_wins_and_the_second_is_told_who_decided(client, account, member):
    instance = _review(account)
    step = Instance.objects.get().steps.get(detail__type="review-decision")
    url = reverse("console:approval-decide", args=[account.pk, step.pk])
    first, second = member("abby", "approver"), member("bert", "approver")

    _client_for(client, first).post(url, {"decision": "approve", "comment": "lgtm"})
    client.logout()
    response = _client_for(client, second).post(url, {"decision": "reject"}, follow=True)

    decision = Decision.objects.get()
    assert (decision.outcome, decision.decided_by) == ("approve", "abby")
    assert "Already approved by abby" in response.content.decode()
    assert instance.status()["output"] == {
        "outcome": "approved",
        "by": "abby",
        "merged": "acme/api#1",
    }


def test_instances_list_pages_by_keyset_without_overlap(client, account, member):
    binding = get_workflow("console-hostile", account=account)
    for n in range(120):
        binding.create(id=f"i-{n:03d}")
    viewer = member("vera", "viewer")
    client = _client_for(client, viewer)
    url = reverse("console:instances", args=[account.pk])

    seen: list[str] = []
    after = ""
    for _ in range(3):
        page = client.get(url, {"after": after} if after else {})
        seen += re.findall(r'class="mono" href="[^"]+">(i-\d{3})</a>', page.content.decode())
        match = re.search(r'after=([\w-]+)"', page.content.decode())
        after = match.group(1) if match else ""

    assert len(seen) == 120
    assert sorted(seen) == [f"i-{n:03d}" for n in range(120)]
    assert after == ""


def test_list_filters_by_status_and_htmx_gets_only_the_results(client, account, member):
    _review(account, "pr-1")
    _review(account, "pr-2").terminate()
    viewer = member("vera", "viewer")
    client = _client_for(client, viewer)
    url = reverse("console:instances", args=[account.pk])

    full = client.get(url, {"status": "terminated"}).content.decode()
    partial = client.get(url, {"status": "terminated"}, headers={"HX-Request": "true"})

    assert ">pr-2</a>" in full
    assert ">pr-1</a>" not in full
    assert "<html" in full
    assert "<html" not in partial.content.decode()
    assert "HX-Request" in partial["Vary"]


def test_bulk_terminate_everything_matching_the_filter(client, account, member):
    for n in range(3):
        _review(account, f"pr-{n}")
    get_workflow("console-hostile", account=account).create(id="unrelated")
    operator = member("otto", "operator")

    response = _client_for(client, operator).post(
        reverse("console:bulk", args=[account.pk]),
        {
            "filters": "workflow=code-review",
            "scope": "matching",
            "action": "terminate",
            "reason": "cleanup",
            "confirm": "yes",
        },
    )

    assert response.status_code == 302
    assert sorted(Instance.objects.values_list("instance_id", "status")) == [
        ("pr-0", "terminated"),
        ("pr-1", "terminated"),
        ("pr-2", "terminated"),
        ("unrelated", "errored"),
    ]
    assert AuditEntry.objects.filter(action="terminate", reason="cleanup").count() == 3


def test_bulk_action_requires_confirmation(client, account, member):
    _review(account)
    operator = member("otto", "operator")

    _client_for(client, operator).post(
        reverse("console:bulk", args=[account.pk]),
        {"scope": "matching", "action": "terminate", "reason": "oops"},
    )

    assert Instance.objects.get().status == "waiting"


def test_detail_polling_stops_once_the_instance_is_terminal(client, account, member):
    _review(account).terminate()
    viewer = member("vera", "viewer")
    client = _client_for(client, viewer)
    url = reverse("console:instance", args=[account.pk, "code-review", "pr-1"])

    html = client.get(url, headers={"HX-Request": "true"}).content.decode()

    assert 'id="live"' in html
    assert "hx-trigger" not in html.split('id="live"')[1].split(">")[0]
    assert console_workflows.XSS not in html


def test_long_journals_are_paged_newest_first(client, account, member):
    get_workflow("console-many-steps", account=account).create(id="long", params={"n": 150})
    viewer = member("vera", "viewer")
    client = _client_for(client, viewer)
    url = reverse("console:instance", args=[account.pk, "console-many-steps", "long"])

    newest = client.get(url).content.decode()
    first = client.get(url, {"steps_page": 1}).content.decode()

    assert "101\u2013150 of 150" in newest
    assert ">s149-1<" in newest
    assert ">s99-1<" not in newest
    assert "1\u2013100 of 150" in first
    assert ">s0-1<" in first
    assert ">s100-1<" not in first


def test_crafted_numbers_and_cursors_get_a_page_not_a_500(client, account, member):
    """Superscript digits pass str.isdigit() but not int(); 1e400 overflows int()."""
    import base64
    import json as json_module

    _review(account)
    viewer = member("vera", "viewer")
    client = _client_for(client, viewer)
    cursor = base64.urlsafe_b64encode(
        json_module.dumps(["2026-01-01T00:00:00+00:00", 1e400]).encode()
    ).decode()

    responses = [
        client.get(reverse("console:instances", args=[account.pk]), {"after": cursor}),
        client.get(reverse("console:audit", args=[account.pk]), {"before": "²"}),
        client.get(
            reverse("console:instance", args=[account.pk, "code-review", "pr-1"]),
            {"steps_page": "²"},
        ),
    ]

    assert [r.status_code for r in responses] == [200, 200, 200]
