"""Finds instances whose durable timers are due and dispatches them."""

from __future__ import annotations

from django.conf import settings

from .dispatch import get_dispatcher
from .journal import queue


def dispatch_due(*, limit: int = queue.DISPATCH_BATCH) -> int:
    """One round of the scheduler process (or beat): send a batch of due instances.

    Rows are taken with SKIP LOCKED and marked as sent, so several schedulers
    never send the same instance twice and a lost message is sent again.
    """
    pks = queue.due_instance_pks_for_dispatch(
        limit=limit, redispatch_seconds=settings.WORKFLOWS_REDISPATCH_SECONDS
    )
    if pks:
        get_dispatcher().dispatch(pks)
    return len(pks)


def tick(*, limit: int = queue.DISPATCH_BATCH) -> int:
    """Advance due instances in-process (inline dispatcher: tests, scripts).

    No sent-marks and no doorbell grace: the activations run before this returns.
    """
    pks = queue.due_instance_pks(limit=limit)
    if pks:
        get_dispatcher().dispatch(pks)
    return len(pks)


def run_until_idle(*, max_rounds: int = 1000) -> int:
    """Tick until nothing is due (tests and the inline dispatcher use this)."""
    total = 0
    for _ in range(max_rounds):
        dispatched = tick()
        if not dispatched:
            break
        total += dispatched
    return total
