"""Create the demo account, an admin user and instances in many states (idempotent).

Goes through the binding, the services and the selectors like any caller. The
few writes no service makes (an account with a fixed id on the Paid plan, a
superuser, synthetic usage history) are demo-only and kept in the section
"Demo-only writes" at the end of this module.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

from workflows_app import selectors, services
from workflows_app.billing.plans import plan_named
from workflows_app.engine import clock
from workflows_app.models import Account, Membership, UsageDaily
from workflows_app.sdk import get_workflow

DEMO_ACCOUNT_ID = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"
DEMO_USER = ("admin", "admin")

ORDER: dict[str, Any] = {
    "email": "ada@example.com",
    "items": [{"sku": "widget", "quantity": 2, "unit_price_cents": 1250}],
}
PR: dict[str, Any] = {"repo": "acme/api", "author": "bob", "timeout": "3 days"}


class Command(BaseCommand):
    help = "Seed a demo account (admin/admin) with example instances in many states."

    def handle(self, *args: Any, **options: Any) -> None:
        account = selectors.account_get(account_id=DEMO_ACCOUNT_ID) or _demo_account_create()
        with transaction.atomic():
            user, _, created = services.user_set(
                account=account, username=DEMO_USER[0], role=Membership.Role.ADMIN
            )
            if created:
                _demo_superuser_promote(user, password=DEMO_USER[1])
        if _instance_count(account):
            self.stdout.write(f"Demo account {account.pk} already seeded.")
            return
        # Advance in-process so every instance reaches its state before we return.
        with override_settings(WORKFLOWS_DISPATCHER="workflows_app.engine.inline.InlineDispatcher"):
            self._seed(account)
        _usage_history_seed(account)
        self.stdout.write(
            f"Seeded demo account {account.pk} ({_instance_count(account)} instances); "
            f"sign in as {DEMO_USER[0]}/{DEMO_USER[1]}."
        )

    def _seed(self, account: Account) -> None:
        orders = get_workflow("order-processing", account=account)
        for n in (1001, 1002):
            orders.create(id=f"order-{n}", params={**ORDER, "order_id": f"A-{n}"})
        orders.create(
            id="order-1003-retrying",
            params={**ORDER, "order_id": "A-1003", "payment_failures": 2},
        )
        orders.create(
            id="order-1004-declined",
            params={**ORDER, "order_id": "A-1004", "card": "declined"},
        )

        reviews = get_workflow("code-review", account=account)
        for number in (41, 42):
            reviews.create(
                id=f"pr-{number}", params={**PR, "number": number, "title": f"Change {number}"}
            )
        approved = reviews.create(id="pr-40", params={**PR, "number": 40, "title": "Done"})
        approved.send_event(
            type="review-decision", payload={"decision": "approve", "comment": "", "by": "carol"}
        )
        reviews.create(id="pr-39-paused", params={**PR, "number": 39, "title": "On hold"}).pause()
        reviews.create(
            id="pr-38-terminated", params={**PR, "number": 38, "title": "Abandoned"}
        ).terminate()

        # Reaches its 5-second sleep now; make run's scheduler and worker then run its
        # slow step, so the console shows an instance running for a few minutes.
        get_workflow("nightly-report", account=account).create(
            id="report-nightly", params={"seconds": 300}
        )

        drip = get_workflow("welcome-drip", account=account)
        for name in ("ada", "grace"):
            drip.create(id=f"welcome-{name}", params={"email": f"{name}@example.com", "name": name})


def _instance_count(account: Account) -> int:
    """Instances of the account, of every workflow and status (one query)."""
    return sum(
        sum(selectors.workflow_instance_counts(workflow).values())
        for workflow in selectors.workflow_list(account=account)
    )


# --- Demo-only writes: no service makes these ---------------------------------


def _demo_account_create() -> Account:
    """The demo account: a fixed id (the README links to it) on the Paid plan."""
    return Account.objects.create(pk=DEMO_ACCOUNT_ID, name="Demo", plan=plan_named("paid"))


def _demo_superuser_promote(user: Any, *, password: str) -> None:
    """Make the new demo user a superuser (the Django admin edits plans) with a password."""
    user.set_password(password)
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["password", "is_staff", "is_superuser"])


def _usage_history_seed(account: Account) -> None:
    """Synthetic usage for the 45 days before today, so the usage page has history.

    Real counters are written by the engine with the journal; these rows have no
    journal behind them, so no service writes them.
    """
    rng = random.Random(42)
    today = clock.now().date()
    # In creation order, as the generator's draws have always been dealt.
    workflows = sorted(selectors.workflow_list(account=account), key=lambda w: w.pk)
    rows = []
    for back in range(45, 0, -1):
        day = today - dt.timedelta(days=back)
        weekday_factor = 0.6 if day.weekday() >= 5 else 1.0
        for workflow in workflows:
            invocations = int(rng.randint(40_000, 150_000) * weekday_factor)
            rows.append(
                UsageDaily(
                    account=account,
                    workflow=workflow,
                    day=day,
                    shard=0,
                    invocations=invocations,
                    attempts=invocations * rng.randint(3, 5),
                    cpu_us=invocations * rng.randint(3_000, 9_000),
                    wall_us=invocations * rng.randint(60_000, 900_000),
                    stored_bytes_delta=invocations * rng.randint(150, 450),
                )
            )
    UsageDaily.objects.bulk_create(rows)
