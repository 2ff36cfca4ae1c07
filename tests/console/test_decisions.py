"""Approvals: a recorded decision is exactly what the workflow receives, or it is refused.

A decision's event is addressed to the prompt (the waiting step) it answers:
that wait, and no other, takes it, ahead of any other event. A decision is
refused, recording nothing, when an earlier event of the waited type is already
buffered (that event answers the wait first), or when the prompt's deadline has
passed, even if the timeout has not been processed yet.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.urls import reverse

from tests.console.conftest import PASSWORD
from workflows_app import services
from workflows_app.engine import registry
from workflows_app.engine.errors import WorkflowError
from workflows_app.models import AuditEntry, Decision, Event, Instance, StepRecord
from workflows_app.sdk import get_workflow

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _decision_workflows(_console_workflows, settings):
    settings.WORKFLOW_MODULES = [*settings.WORKFLOW_MODULES, "tests.console.decision_workflows"]
    registry.reset()


def _signed_in(client, user):
    client.login(username=user.get_username(), password=PASSWORD)
    return client


def _prompt(instance_id: str, name: str) -> StepRecord:
    return StepRecord.objects.get(instance__instance_id=instance_id, name=name)


def _decide(client, account, step: StepRecord, decision: str, comment: str = ""):
    url = reverse("console:approval-decide", args=[account.pk, step.pk])
    return client.post(url, {"decision": decision, "comment": comment}, follow=True)


def _what_the_wait_received(step: StepRecord):
    """The payload of the event the wait consumed (None: it took none)."""
    event = Event.objects.filter(consumed_by=step).first()
    return None if event is None else event.payload


def test_a_decision_is_refused_while_an_earlier_event_of_the_waited_type_is_buffered(
    client, account, member
):
    # given a code review waiting for its "review-decision", paused
    review = get_workflow("code-review", account=account).create(
        id="pr-7", params={"repo": "acme/api", "number": 7, "title": "T", "author": "bob"}
    )
    review.pause()
    # and a "reject" sent by the API while paused, buffered for the wait
    review.send_event(type="review-decision", payload={"decision": "reject", "by": "api-bot"})
    prompt = _prompt("pr-7", "await review decision")

    # when an approver clicks Approve on the prompt
    page = _decide(_signed_in(client, member("abby", "approver")), account, prompt, "approve")

    # then the console says why nothing was recorded: the earlier event answers the wait
    html = page.content.decode()
    assert "is already waiting to be delivered to this instance" in html
    assert "Nothing was recorded." in html
    assert "Approved" not in html
    assert Decision.objects.count() == 0
    assert Event.objects.count() == 1
    assert not AuditEntry.objects.filter(actor="user:abby").exists()

    # and after resume, the workflow ran on the API's event, as nothing claims otherwise
    review.resume()
    assert review.status()["output"] == {"outcome": "rejected", "by": "api-bot", "comment": None}
    assert _what_the_wait_received(prompt) == {"decision": "reject", "by": "api-bot"}


@pytest.mark.parametrize("paused", [True, False], ids=["while-paused", "while-waiting"])
def test_each_decision_reaches_exactly_the_prompt_it_answers(client, account, member, paused):
    # given an instance with two prompts of the same type open at once
    instance = get_workflow("decisions-two-sign-offs", account=account).create(id="rel-1")
    legal, security = _prompt("rel-1", "legal"), _prompt("rel-1", "security")
    if paused:
        instance.pause()

    # when one approver approves "security" first, and another rejects "legal"
    abby, bert = member("abby", "approver"), member("bert", "approver")
    first = _decide(_signed_in(client, abby), account, security, "approve", "ok")
    client.logout()
    second = _decide(_signed_in(client, bert), account, legal, "reject", "no")
    if paused:
        instance.resume()

    # then both were recorded, and each prompt received exactly its own decision
    assert "Approved decisions-two-sign-offs/rel-1." in first.content.decode()
    assert "Rejected decisions-two-sign-offs/rel-1." in second.content.decode()
    approve = {"decision": "approve", "comment": "ok", "by": "abby"}
    reject = {"decision": "reject", "comment": "no", "by": "bert"}
    assert instance.status()["output"] == {"legal": reject, "security": approve}
    for prompt, payload in [(legal, reject), (security, approve)]:
        decision = Decision.objects.get(step=prompt)
        assert {"decision": decision.outcome, "comment": decision.comment} == {
            k: payload[k] for k in ("decision", "comment")
        }
        assert decision.decided_by == payload["by"]
        assert _what_the_wait_received(prompt) == payload


def test_a_decision_after_the_deadline_is_refused_before_the_timeout_is_processed(
    client, account, member, clock, run_due
):
    # given two prompts timing out in an hour
    binding = get_workflow("decisions-sign-off", account=account)
    late, on_time = binding.create(id="late"), binding.create(id="on-time")
    deadline = _prompt("late", "sign off").wake_at
    client = _signed_in(client, member("abby", "approver"))

    # when, exactly at the deadline, one prompt is approved: still in time
    clock.advance(3600)
    _decide(client, account, _prompt("on-time", "sign off"), "approve")

    # and, a second after it, the other one (nothing has processed its timeout yet)
    clock.advance(1)
    assert _prompt("late", "sign off").status == "waiting"
    page = _decide(client, account, _prompt("late", "sign off"), "approve")

    # then the late decision is refused with the deadline, and nothing is recorded
    html = page.content.decode()
    assert f"This prompt timed out at {deadline:%Y-%m-%d %H:%M:%S} UTC" in html
    assert "Nothing was recorded." in html
    assert not Decision.objects.filter(step__instance__instance_id="late").exists()
    assert not Event.objects.filter(instance__instance_id="late").exists()
    assert AuditEntry.objects.filter(instance_id="late").count() == 0

    # and the wait times out, while the one decided in time received its decision
    run_due()
    assert late.status()["output"] == {"timed_out": "Execution timed out after 3600000ms"}
    assert on_time.status()["output"] == {
        "received": {"decision": "approve", "comment": "", "by": "abby"}
    }
    assert Decision.objects.get().step.instance.instance_id == "on-time"


def test_a_prompt_paused_before_its_deadline_can_still_be_decided_after_it(
    client, account, member, clock, run_due
):
    # given a prompt timing out in an hour, paused after half an hour
    instance = get_workflow("decisions-sign-off", account=account).create(id="held")
    clock.advance(1800)
    instance.pause()

    # when it is approved two hours later, still paused (its timeout clock is stopped)
    clock.advance(7200)
    page = _decide(
        _signed_in(client, member("abby", "approver")),
        account,
        _prompt("held", "sign off"),
        "approve",
    )

    # then the decision is recorded, and after resume it is what the wait receives
    assert "Approved decisions-sign-off/held." in page.content.decode()
    instance.resume()
    run_due()
    approve = {"decision": "approve", "comment": "", "by": "abby"}
    assert instance.status()["output"] == {"received": approve}
    assert Decision.objects.get().outcome == "approve"


def _all_at_once(instance, prompt: StepRecord, refused: list[str]) -> None:
    """16 decisions (8 approve, 8 reject, two people) and 2 API events, released together."""
    start = threading.Barrier(18)

    def decide(outcome: str, by: str) -> None:
        try:
            start.wait(10)
            services.approval_decide(step=prompt, outcome=outcome, comment="", by=by)
        except WorkflowError as exc:
            refused.append(str(exc))
        finally:
            connections.close_all()

    def send() -> None:
        try:
            start.wait(10)
            instance.send_event(type="sign-off", payload={"decision": "api"})
        except WorkflowError:
            pass  # the instance already completed: it accepts no more events
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=decide, args=(outcome, by))
        for outcome in ("approve", "reject")
        for by in ("abby", "bert")
        for _ in range(4)
    ] + [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL (row locks)"
)
def test_concurrent_decisions_and_api_events_record_only_what_the_workflow_receives(account):
    # given 6 prompts, each hit at once by 16 decisions (8 approve, 8 reject, from
    # two people) and 2 API events of the waited type
    binding = get_workflow("decisions-sign-off", account=account)
    instances = [binding.create(id=f"p-{n}") for n in range(6)]
    refused: list[str] = []

    for instance in instances:
        _all_at_once(instance, _prompt(instance.id, "sign off"), refused)

    # then each prompt has at most one decision, and it is exactly what run() received
    decided = 0
    for instance in instances:
        prompt = _prompt(instance.id, "sign off")
        received = instance.status()["output"]["received"]
        assert _what_the_wait_received(prompt) == received
        decisions = list(Decision.objects.filter(step=prompt))
        assert len(decisions) <= 1
        if decisions:
            decided += 1
            (decision,) = decisions
            assert received == {
                "decision": decision.outcome,
                "comment": "",
                "by": decision.decided_by,
            }
        else:
            assert received == {"decision": "api"}
    assert Instance.objects.filter(status="complete").count() == 6
    # every other click was told why: someone decided first, or an event got there first
    assert len(refused) == 6 * 16 - decided
