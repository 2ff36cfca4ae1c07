"""Celery: the tasks, thin adapters that take ids only, and the dispatch backend that sends them.

A message is only a doorbell. The instance row decides whether there is work
(``store.claim`` is a compare-and-set on the lease), so a duplicate, late or
redelivered message is a no-op, and a lost one is re-sent by the scheduler.
Durable timers are ``Instance.wake_at`` rows that the scheduler turns into
messages when they are due; ``dispatch_at`` only adds a *precise* early copy
for timers a few seconds away (a countdown far below Redis's visibility
timeout, so it can never be redelivered as a duplicate of itself).

``WORKFLOWS_DISPATCHER = "workflows_app.tasks.CeleryDispatcher"``; the engine
loads it lazily and never imports Celery itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from django.conf import settings

from project.celery import app
from workflows_app import services
from workflows_app.engine import runner, scheduler
from workflows_app.engine.dispatch import BaseDispatcher
from workflows_app.engine.journal import queue

logger = logging.getLogger(__name__)


@app.task(name="workflows.advance_instance", ignore_result=True)
def advance_instance(instance_pk: int) -> None:
    """Run the instance's activations while it has work due now."""
    runner.advance(int(instance_pk))


@app.task(name="workflows.dispatch_due", ignore_result=True)
def dispatch_due(limit: int = queue.DISPATCH_BATCH) -> int:
    """Send one batch of due instances to the workers; returns how many were sent.

    What ``manage.py workflows_scheduler`` does in a loop; usable from beat too.
    """
    return scheduler.dispatch_due(limit=limit)


@app.task(name="workflows.sweep", ignore_result=True)
def sweep() -> int:
    """Pause instances whose pause waited on a worker that died (lease expired)."""
    return queue.pause_stalled()


@app.task(name="workflows.purge_expired", ignore_result=True)
def purge_expired() -> int:
    """Purge finished instances past retention (the scheduler also does it every 5 min)."""
    return services.retention_purge()


class CeleryDispatcher(BaseDispatcher):
    """One ``advance_instance`` message per instance; messages carry only its primary key."""

    supports_precise_timers = True

    def dispatch(self, instance_pks: Sequence[int]) -> None:
        """Publish the batch over one pooled broker connection.

        A failure to publish is logged and swallowed: the rows are committed
        and the scheduler re-sends anything still due.
        """
        if not instance_pks:
            return
        try:
            with app.producer_or_acquire() as producer:
                for pk in instance_pks:
                    advance_instance.apply_async((int(pk),), producer=producer)
        except Exception:
            logger.exception(
                "could not publish %d instance(s); the scheduler will re-send them",
                len(instance_pks),
            )

    def dispatch_at(self, instance_pk: int, when: dt.datetime, now: dt.datetime) -> None:
        """Ask a worker to advance the instance at ``when`` (a few seconds away at most)."""
        countdown = max(0.0, (when - now).total_seconds())
        # Redis redelivers a message held unacked past its visibility timeout,
        # an ETA message included: keep well inside it, or leave it to the scheduler.
        if countdown >= settings.CELERY_VISIBILITY_TIMEOUT / 2:
            return
        try:
            with app.producer_or_acquire() as producer:
                advance_instance.apply_async(
                    (int(instance_pk),), countdown=min(countdown, 60), producer=producer
                )
        except Exception:
            logger.exception("could not publish a timer for instance %s", instance_pk)
