"""Junk in every console input gets the REST API's checks: a 400 that says why, never a 500.

The fault review (bug 9) found 11 places where a NUL byte reached PostgreSQL
and came back as a 500, and a send-event form that took 3,000-deep JSON (the
API refuses past 100) and failed at 100,000. Run this file on PostgreSQL too:
``DATABASE_URL=postgres://postgres@127.0.0.1:5432/<name> pytest tests/console/test_junk_input.py``.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.console.conftest import PASSWORD
from workflows_app.models import AuditEntry, Decision, Event, Instance
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def review(account):
    """A code-review instance waiting for its approval (a waiting step, an action form)."""
    return get_workflow("code-review", account=account).create(
        id="pr-1", params={"repo": "acme/api", "number": 1, "title": "T", "author": "bob"}
    )


@pytest.fixture
def admin(client, member):
    user = member("ada", "admin")
    client.login(username=user.get_username(), password=PASSWORD)
    return client


def _refused(response, *words: str) -> str:
    html = response.content.decode()
    assert response.status_code == 400, html[:2000]
    for word in words:
        assert word in html, html[:2000]
    return html


def _state(account):
    """Everything a console write could change."""
    return (
        sorted(Instance.objects.values_list("instance_id", "status")),
        AuditEntry.objects.count(),
        Decision.objects.count(),
        Event.objects.count(),
    )


@pytest.mark.parametrize(
    ("path", "where"),
    [
        ("/a/%00/", "account id"),
        ("/a/%00/instances/", "account id"),
        ("/a/%00/approvals/badge/", "account id"),
        ("/a/%00/approvals/", "account id"),
        ("/a/%00/audit/", "account id"),
        ("/a/%00/usage/", "account id"),
        ("/a/%00/usage.csv", "account id"),
        ("/a/{acc}/usage/?period=%00", "&#x27;period&#x27;"),
        ("/a/{acc}/workflows/%00/instances/pr-1/", "workflow"),
        ("/a/{acc}/workflows/code-review/instances/%00/", "instance id"),
        ("/a/{acc}/instances/?q=%00", "&#x27;q&#x27;"),
        ("/a/{acc}/instances/?workflow=%00", "&#x27;workflow&#x27;"),
        ("/a/{acc}/instances/?status=%00", "&#x27;status&#x27;"),
        ("/a/{acc}/audit/?before=1%00", "&#x27;before&#x27;"),
    ],
)
def test_nul_in_an_address_or_a_filter_is_a_400_that_says_where(
    admin, account, review, path, where
):
    # when a signed-in member asks for a page with a NUL in its address
    response = admin.get(path.format(acc=account.pk))

    # then the answer is a 400 naming the part, not a database error
    _refused(response, where, "NUL character")


@pytest.mark.parametrize("action", ["pause", "resume", "terminate", "restart", "send-event"])
def test_nul_in_the_reason_of_any_action_is_refused_and_changes_nothing(
    admin, account, review, action
):
    before = _state(account)
    url = reverse("console:instance-action", args=[account.pk, "code-review", "pr-1", action])

    response = admin.post(
        url, {"reason": "oops\x00", "event_type": "review-decision", "payload": "{}"}
    )

    _refused(response, "reason", "NUL character")
    assert _state(account) == before


def test_nul_in_the_bulk_forms_filters_is_refused(admin, account, review):
    before = _state(account)

    response = admin.post(
        reverse("console:bulk", args=[account.pk]),
        {
            "filters": "q=%00",
            "scope": "matching",
            "action": "terminate",
            "confirm": "yes",
            "reason": "x",
        },
    )

    _refused(response, "filter", "NUL character")
    assert _state(account) == before


def test_nul_in_an_approval_comment_is_refused_and_no_decision_is_recorded(admin, account, review):
    step = Instance.objects.get().steps.get(detail__type="review-decision")
    before = _state(account)

    response = admin.post(
        reverse("console:approval-decide", args=[account.pk, step.pk]),
        {"decision": "approve", "comment": "lgtm\x00"},
    )

    _refused(response, "comment", "NUL character")
    assert _state(account) == before


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("[" * 102 + "]" * 102, "nested deeper than 100 levels"),
        ("[" * 3_000 + "]" * 3_000, "nested deeper than 100 levels"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 100 levels"),
        ('{"n": ' + "9" * 5_000 + "}", "an integer has more than 4300 digits"),
        ('{"x": NaN}', "NaN is not valid JSON"),
        ('{"x": "a\\u0000b"}', "NUL character"),
        ("{", "Malformed JSON in payload"),
    ],
    ids=["102-deep", "3000-deep", "100000-deep", "5000-digit-int", "nan", "nul", "syntax"],
)
def test_send_event_payload_gets_the_apis_json_checks(admin, account, review, payload, message):
    before = _state(account)
    url = reverse("console:instance-action", args=[account.pk, "code-review", "pr-1", "send-event"])

    response = admin.post(
        url, {"event_type": "review-decision", "payload": payload, "reason": "test"}
    )

    _refused(response, "payload", message)
    assert _state(account) == before


def test_send_event_payload_at_the_apis_depth_limit_is_accepted(admin, account, review):
    url = reverse("console:instance-action", args=[account.pk, "code-review", "pr-1", "send-event"])

    response = admin.post(
        url, {"event_type": "other", "payload": "[" * 100 + "]" * 100, "reason": "deep"}
    )

    assert response.status_code == 302
    assert Event.objects.filter(type="other").count() == 1


@pytest.mark.parametrize(
    "path",
    [
        "/a/{acc}/workflows/code-review/instances/pr-1/?steps_page=" + "9" * 5_000,
        "/a/{acc}/audit/?before=" + "9" * 5_000,
        "/a/{acc}/audit/?before=99999999999999999999",
        "/a/{acc}/instances/?after=" + "9" * 5_000,
    ],
)
def test_huge_numbers_in_the_address_get_a_page(admin, account, review, path):
    response = admin.get(path.format(acc=account.pk))

    assert response.status_code == 200


def test_huge_selected_ids_in_the_bulk_form_select_nothing(admin, account, review):
    before = _state(account)

    response = admin.post(
        reverse("console:bulk", args=[account.pk]),
        {
            "selected": ["9" * 5_000, "99999999999999999999"],
            "action": "terminate",
            "confirm": "yes",
            "reason": "x",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "No instance was selected." in response.content.decode()
    assert _state(account) == before


@pytest.mark.parametrize(
    "path",
    [
        "/a/not-an-account/",
        "/a/{acc}/workflows/Not_A_Name/instances/pr-1/",
        "/a/{acc}/workflows/code-review/instances/" + "x" * 101 + "/",
        "/a/{acc}/workflows/code-review/instances/a.b/",
    ],
)
def test_ids_no_object_can_have_are_a_404(admin, account, review, path):
    assert admin.get(path.format(acc=account.pk)).status_code == 404


def test_two_occurrences_of_a_step_get_distinct_copy_targets(admin, account):
    get_workflow("console-repeated", account=account).create(id="r")

    html = admin.get(
        reverse("console:instance", args=[account.pk, "console-repeated", "r"])
    ).content.decode()

    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    targets = re.findall(r'data-copy="#([^"]+)"', html)
    outputs = {
        target: re.search(rf'id="{re.escape(target)}"[^>]*>(.*?)</pre>', html, re.S).group(1)
        for target in targets
    }
    assert sorted(o for o in outputs.values() if "output" in o) == [
        "&quot;first output&quot;",
        "&quot;second output&quot;",
    ]
