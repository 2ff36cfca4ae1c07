"""The demo table the order-processing example writes to."""

from __future__ import annotations

from django.db import models


class ExampleOrder(models.Model):
    """Written by the shipped order-processing example's "update database" step."""

    order_id = models.CharField(max_length=100, unique=True)
    status = models.CharField(max_length=32)
    total_cents = models.PositiveIntegerField(default=0)
    payment_id = models.CharField(max_length=100, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The table keeps the name it had when the model lived in workflows_app,
        # so moving the model kept every existing row (see migrations/0001).
        db_table = "workflows_app_exampleorder"

    def __str__(self) -> str:
        return f"order {self.order_id} ({self.status})"
