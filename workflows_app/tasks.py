"""Celery: the tasks, thin adapters without arguments, and the dispatch backend that sends them.

A message is only a doorbell: "there is due work". The instance rows are the
queue; the worker that takes a doorbell claims the most overdue due instance
itself (``store.claim_next``, a compare-and-set on the lease), runs it, and
keeps claiming the next one for a few seconds (``runner.drain``). So a
duplicate, late or redelivered doorbell costs one empty claim, and a lost one
is rung again by the scheduler, which keeps the doorbells queued at most equal
to the due instances. Durable timers are ``Instance.wake_at`` rows; ``ring_at``
only adds a *precise* countdown doorbell for timers a few seconds away (far
below Redis's visibility timeout, so it can never be redelivered as a
duplicate of itself).

``WORKFLOWS_DISPATCHER = "workflows_app.tasks.CeleryDispatcher"``; the engine
loads it lazily and never imports Celery itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from celery.signals import worker_process_init
from django.conf import settings
from kombu.exceptions import ChannelError

from project.celery import app
from workflows_app import services
from workflows_app.engine import runner, scheduler, watchdog
from workflows_app.engine.dispatch import MAX_DOORBELLS_PER_DISPATCH, BaseDispatcher
from workflows_app.engine.journal import queue

logger = logging.getLogger(__name__)


@worker_process_init.connect
def _recycle_when_tainted(**kwargs: object) -> None:
    """A prefork child left holding a step body it cannot stop exits between two tasks.

    The parent starts a fresh child; see ``engine/watchdog.py``.
    """
    watchdog.install_pool_child_recycling()


# Doorbells are acknowledged when a worker starts them, not when it finishes
# (``acks_late=False``, unlike the project default): the database is the queue,
# so a doorbell lost with its worker costs nothing (the lease expires and the
# scheduler rings again), and an activation in flight holds no unacknowledged
# message. So a broker blip has nothing of ours to cancel
# (``worker_cancel_long_running_tasks_on_connection_loss`` only touches
# unacknowledged late-ack tasks) nor to restore through the lost connection
# (kombu's Redis transport then fails with ``AttributeError: 'NoneType' object
# has no attribute 'hostname'`` and the worker exits).
DOORBELL_OPTIONS = {"ignore_result": True, "acks_late": False}


@app.task(name="workflows.doorbell", **DOORBELL_OPTIONS)
def doorbell() -> int:
    """Run due instances, most overdue first, until none is due or a few seconds passed."""
    return runner.drain()


@app.task(name="workflows.advance_instance", **DOORBELL_OPTIONS)
def advance_instance(instance_pk: int | None = None) -> int:
    """The doorbell of earlier versions, which named an instance: now a plain doorbell.

    Messages queued before an upgrade still drain due work (the named
    instance among it, if it is due).
    """
    return runner.drain()


@app.task(name="workflows.dispatch_due", ignore_result=True)
def dispatch_due(limit: int = queue.DISPATCH_BATCH) -> int:
    """Ring the doorbells due work needs; returns how many rang.

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
    """Doorbells are ``doorbell`` messages without arguments, on ``CELERY_TASK_DEFAULT_QUEUE``."""

    supports_precise_timers = True

    def dispatch(self, instance_pks: Sequence[int]) -> None:
        """One doorbell per instance made due, up to ``MAX_DOORBELLS_PER_DISPATCH``."""
        self.ring(min(len(instance_pks), MAX_DOORBELLS_PER_DISPATCH))

    def ring(self, count: int) -> None:
        """Publish ``count`` doorbells over one pooled broker connection.

        A failure to publish is logged and swallowed: the rows are committed
        and the scheduler rings again while work is due.
        """
        if count <= 0:
            return
        try:
            with app.producer_or_acquire() as producer:
                for _ in range(count):
                    doorbell.apply_async(producer=producer)
        except Exception:
            logger.exception("could not ring %d doorbell(s); the scheduler will ring again", count)

    def queued(self) -> int | None:
        """The queue's depth, as the broker tells it (Redis: the list's length)."""
        try:
            with app.pool.acquire(block=True) as connection:
                channel = connection.default_channel
                try:
                    declared = channel.queue_declare(
                        queue=settings.CELERY_TASK_DEFAULT_QUEUE, passive=True
                    )
                except ChannelError:
                    return 0  # Redis: an empty queue does not exist
                return int(declared.message_count)
        except Exception:
            logger.warning("could not read the queue's depth", exc_info=True)
            return None

    def ring_at(self, when: dt.datetime, now: dt.datetime) -> None:
        """Ring one doorbell at ``when`` (a few seconds away at most)."""
        countdown = max(0.0, (when - now).total_seconds())
        # Redis redelivers a message held unacked past its visibility timeout,
        # an ETA message included: keep well inside it, or leave it to the scheduler.
        if countdown >= settings.CELERY_VISIBILITY_TIMEOUT / 2:
            return
        try:
            with app.producer_or_acquire() as producer:
                doorbell.apply_async(countdown=min(countdown, 60), producer=producer)
        except Exception:
            logger.exception("could not publish a timer doorbell")
