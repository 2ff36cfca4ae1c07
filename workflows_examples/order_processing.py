"""Order processing: inventory → payment (retried) → confirmation email → database.

Params: ``{"order_id", "email", "items": [{"sku", "quantity", "unit_price_cents"}],
"card": "ok" | "declined", "payment_failures": N}``. ``payment_failures`` makes
the simulated payment provider fail transiently N times, to show retries.
"""

from __future__ import annotations

from typing import Any

from django.core.mail import send_mail

from workflows_app.sdk import NonRetryableError, WorkflowEntrypoint, WorkflowEvent, WorkflowStep
from workflows_examples.models import ExampleOrder

# Stock of the simulated warehouse.
INVENTORY = {"widget": 100, "gadget": 25, "gizmo": 0}

PAYMENT_CONFIG = {
    "retries": {"limit": 3, "delay": "30 seconds", "backoff": "exponential"},
    "timeout": "2 minutes",
}


class OutOfStockError(NonRetryableError):
    """Retrying cannot make stock appear."""


class CardDeclinedError(NonRetryableError):
    """The card was declined: a permanent failure."""


class PaymentGatewayError(Exception):
    """A transient failure of the payment provider: worth retrying."""


def check_inventory(items: list[dict[str, Any]]) -> dict[str, Any]:
    missing = [i["sku"] for i in items if INVENTORY.get(i["sku"], 0) < i["quantity"]]
    if missing:
        raise OutOfStockError(f"Out of stock: {', '.join(missing)}")
    total = sum(i["quantity"] * i["unit_price_cents"] for i in items)
    return {"reserved": [i["sku"] for i in items], "total_cents": total}


def charge(order: dict[str, Any], total_cents: int, attempt: int) -> dict[str, Any]:
    """Simulated payment provider (the real one would be an HTTP call)."""
    if order.get("card") == "declined":
        raise CardDeclinedError("The card was declined")
    if attempt <= order.get("payment_failures", 0):
        raise PaymentGatewayError(f"Payment provider unavailable (attempt {attempt})")
    return {"payment_id": f"pay_{order['order_id']}", "amount_cents": total_cents}


class OrderProcessingWorkflow(WorkflowEntrypoint):
    name = "order-processing"

    async def run(self, event: WorkflowEvent, step: WorkflowStep) -> dict[str, Any]:
        order = event.payload

        reservation = await step.do("check inventory", lambda: check_inventory(order["items"]))

        @step.do("process payment", config=PAYMENT_CONFIG)
        def payment(ctx: dict[str, Any]) -> dict[str, Any]:
            return charge(order, reservation["total_cents"], ctx["attempt"])

        receipt = await payment()

        @step.do("send confirmation email")
        def email() -> int:
            return send_mail(
                subject=f"Order {order['order_id']} confirmed",
                message=f"We charged {receipt['amount_cents'] / 100:.2f}. Thank you!",
                from_email="orders@example.com",
                recipient_list=[order["email"]],
            )

        await email()

        @step.do("update database")
        def record() -> str:
            # Idempotent: a retry after a crash mid-write updates the same row.
            ExampleOrder.objects.update_or_create(
                order_id=order["order_id"],
                defaults={
                    "status": "paid",
                    "total_cents": reservation["total_cents"],
                    "payment_id": receipt["payment_id"],
                },
            )
            return "paid"

        status = await record()
        return {"order_id": order["order_id"], "status": status, **receipt}
