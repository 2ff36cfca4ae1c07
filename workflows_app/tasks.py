"""Thin Celery adapters: they take ids only and call the engine.

A message is only a doorbell. The instance row decides whether there is work
(``store.claim`` is a compare-and-set on the lease), so a duplicate, late or
redelivered message is a no-op, and a lost one is re-sent by the scheduler.
"""

from __future__ import annotations

from project.celery import app
from workflows_app import services
from workflows_app.engine import runner, scheduler, store


@app.task(name="workflows.advance_instance", ignore_result=True)
def advance_instance(instance_pk: int) -> None:
    """Run the instance's activations while it has work due now."""
    runner.advance(int(instance_pk))


@app.task(name="workflows.dispatch_due", ignore_result=True)
def dispatch_due(limit: int = store.DISPATCH_BATCH) -> int:
    """Send one batch of due instances to the workers; returns how many were sent.

    What ``manage.py workflows_scheduler`` does in a loop; usable from beat too.
    """
    return scheduler.dispatch_due(limit=limit)


@app.task(name="workflows.sweep", ignore_result=True)
def sweep() -> int:
    """Pause instances whose pause waited on a worker that died (lease expired)."""
    return store.pause_stalled()


@app.task(name="workflows.purge_expired", ignore_result=True)
def purge_expired() -> int:
    """Purge finished instances past retention (the scheduler also does it every 5 min)."""
    return services.retention_purge()
