"""Finds instances whose durable timers are due and dispatches them."""

from __future__ import annotations

from . import store
from .dispatch import get_dispatcher

BATCH_SIZE = 500


def tick(*, limit: int = BATCH_SIZE) -> int:
    """Dispatch one batch of due instances; returns how many were dispatched."""
    pks = store.due_instance_pks(limit=limit)
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
