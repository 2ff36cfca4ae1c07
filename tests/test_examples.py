"""The shipped examples run end to end: every path of both workflows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from workflows_app.models import StepAttempt
from workflows_app.sdk import get_workflow
from workflows_examples.models import ExampleOrder

pytestmark = pytest.mark.django_db(transaction=True)

ORDER = {
    "order_id": "A-1001",
    "email": "ada@example.com",
    "items": [{"sku": "widget", "quantity": 2, "unit_price_cents": 1250}],
}


def test_order_processing_charges_emails_and_records_the_order(account, clock):
    instance = get_workflow("order-processing", account=account).create(params=ORDER)

    status = instance.status()
    assert status["status"] == "complete"
    assert status["output"] == {
        "order_id": "A-1001",
        "status": "paid",
        "payment_id": "pay_A-1001",
        "amount_cents": 2500,
    }
    assert [s["name"] for s in status["steps"]] == [
        "check inventory",
        "process payment",
        "send confirmation email",
        "update database",
    ]
    assert mail.outbox[0].to == ["ada@example.com"]
    assert ExampleOrder.objects.get(order_id="A-1001").payment_id == "pay_A-1001"


def test_order_processing_retries_payment_with_exponential_30s_backoff(account, clock, run_due):
    instance = get_workflow("order-processing", account=account).create(
        params={**ORDER, "payment_failures": 2}
    )
    payment = instance.status()["steps"][1]
    assert instance.status()["status"] == "waiting"
    assert payment["next_attempt_at"] == clock.current + dt.timedelta(seconds=30)

    clock.advance(30)
    run_due()
    payment = instance.status()["steps"][1]
    assert payment["next_attempt_at"] == clock.current + dt.timedelta(seconds=60)

    clock.advance(60)
    run_due()
    assert instance.status()["status"] == "complete"
    attempts = StepAttempt.objects.filter(step__name="process payment").order_by("number")
    assert [a.success for a in attempts] == [False, False, True]
    assert attempts[0].error_name == "PaymentGatewayError"


def test_order_processing_declined_card_fails_once_without_retry(account, clock):
    instance = get_workflow("order-processing", account=account).create(
        params={**ORDER, "card": "declined"}
    )

    status = instance.status()
    assert status["status"] == "errored"
    assert status["error"] == {"name": "CardDeclinedError", "message": "The card was declined"}
    assert StepAttempt.objects.filter(step__name="process payment").count() == 1
    assert not ExampleOrder.objects.exists()


def test_order_processing_out_of_stock_stops_before_payment(account, clock):
    instance = get_workflow("order-processing", account=account).create(
        params={**ORDER, "items": [{"sku": "gizmo", "quantity": 1, "unit_price_cents": 5}]}
    )

    status = instance.status()
    assert status["error"] == {"name": "OutOfStockError", "message": "Out of stock: gizmo"}
    assert [s["name"] for s in status["steps"]] == ["check inventory"]


PR = {"repo": "acme/api", "number": 7, "title": "Fix", "author": "bob", "timeout": "2 days"}


def _review(account):
    return get_workflow("code-review", account=account).create(params=PR)


def test_code_review_waits_for_a_decision(account, clock):
    instance = _review(account)

    status = instance.status()
    assert status["status"] == "waiting"
    waits = [s for s in status["steps"] if s["type"] == "waitForEvent"]
    assert [(w["event_type"], w["status"]) for w in waits] == [
        ("review-decision", "waiting"),
        ("pr-closed", "waiting"),
    ]


def test_code_review_approval_merges(account, clock):
    instance = _review(account)

    instance.send_event(
        type="review-decision", payload={"decision": "approve", "comment": "", "by": "carol"}
    )

    status = instance.status()
    assert status["status"] == "complete"
    assert status["output"] == {"outcome": "approved", "by": "carol", "merged": "acme/api#7"}


def test_code_review_rejection_notifies_the_author(account, clock):
    instance = _review(account)

    instance.send_event(
        type="review-decision",
        payload={"decision": "reject", "comment": "needs tests", "by": "carol"},
    )

    assert instance.status()["output"] == {
        "outcome": "rejected",
        "by": "carol",
        "comment": "needs tests",
    }


def test_code_review_closed_pr_wins_the_race(account, clock):
    instance = _review(account)

    instance.send_event(type="pr-closed", payload={"by": "bob"})

    assert instance.status()["output"] == {"outcome": "closed"}


def test_code_review_expires_after_its_timeout(account, clock, run_due):
    instance = _review(account)

    clock.advance(dt.timedelta(days=2, seconds=1))
    run_due()

    assert instance.status()["output"] == {"outcome": "expired"}


def test_code_review_late_loser_event_does_not_change_the_branch(account, clock, run_due):
    """The winner is journaled, so the decision arriving after pr-closed changes nothing."""
    instance = get_workflow("code-review", account=account).create(
        params={**PR, "timeout": "1 hour"}
    )
    instance.pause()
    instance.send_event(type="pr-closed", payload={})
    instance.resume()
    assert instance.status()["output"] == {"outcome": "closed"}

    instance.restart(from_step="record race winner")
    assert instance.status()["output"] == {"outcome": "closed"}


def test_welcome_drip_sleeps_a_day_then_three_days(account, clock, run_due):
    instance = get_workflow("welcome-drip", account=account).create(
        params={"email": "ada@example.com", "name": "Ada"}
    )
    assert instance.status()["status"] == "waiting"

    clock.advance(dt.timedelta(days=1))
    run_due()
    assert [s["name"] for s in instance.status()["steps"]][-1] == "wait three days"

    clock.advance(dt.timedelta(days=3))
    run_due()
    assert instance.status()["output"] == ["welcome", "tips", "offer"]


def test_nightly_report_waits_for_its_window_then_aggregates(account, clock, run_due):
    instance = get_workflow("nightly-report", account=account).create(params={"seconds": 0.1})
    assert instance.status()["status"] == "waiting"

    clock.advance(5)
    run_due()

    assert instance.status()["output"] == {
        "published": True,
        "orders": 1234,
        "revenue_cents": 9_876_500,
    }
