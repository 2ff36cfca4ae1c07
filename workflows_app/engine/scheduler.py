"""Rings doorbells for due work, only when no doorbell is waiting for a worker.

The database is the queue. A round counts the instances that are due and
unclaimed (timers that came due, instances whose doorbell was lost, instances
whose worker died and whose lease expired) and reads how many doorbells wait
in the broker. A waiting doorbell means no worker slot is idle (an idle one
would have taken it), and the worker that takes it keeps claiming due
instances until none is due: so the round rings nothing. Only when the queue
is empty does it ring, one doorbell per due instance, at most
``MAX_DOORBELLS_PER_DISPATCH`` (enough to wake every idle slot). So the broker
never holds more doorbells than there is due work, however long the workers
lag, and a stale doorbell costs a worker one empty claim.
"""

from __future__ import annotations

from .dispatch import MAX_DOORBELLS_PER_DISPATCH, get_dispatcher
from .journal import queue


def dispatch_due(*, limit: int = queue.DISPATCH_BATCH) -> int:
    """One scheduler round (the process, or beat): ring doorbells if due work waits.

    Returns how many rang.

    ``limit`` caps the count. A backend that cannot tell how many doorbells
    are queued gets one per round while work is due (its workers drain all due
    work per doorbell).
    """
    due = queue.due_count(limit=min(limit, MAX_DOORBELLS_PER_DISPATCH))
    if not due:
        return 0
    dispatcher = get_dispatcher()
    queued = dispatcher.queued()
    if queued is None:
        missing = 1
    elif queued > 0:
        return 0  # a doorbell is waiting: no worker slot is idle
    else:
        missing = due
    dispatcher.ring(missing)
    return missing


def tick(*, limit: int = queue.DISPATCH_BATCH) -> int:
    """Advance due instances in-process (inline dispatcher: tests, scripts).

    The activations run before this returns.
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
