"""The production dispatcher: one ``advance_instance`` message per instance, via Celery.

Named in ``settings.WORKFLOWS_DISPATCHER``; the engine loads it lazily and
never imports Celery itself. Messages carry only the instance's primary key.
Durable timers are ``Instance.wake_at`` rows that the scheduler turns into
messages when they are due; ``dispatch_at`` only adds a *precise* early copy
for timers a few seconds away (a countdown far below Redis's visibility
timeout, so it can never be redelivered as a duplicate of itself).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from django.conf import settings

logger = logging.getLogger(__name__)


class CeleryDispatcher:
    def dispatch(self, instance_pks: Sequence[int]) -> None:
        """Publish the batch over one pooled broker connection.

        A failure to publish is logged and swallowed: the rows are committed
        and the scheduler re-sends anything still due.
        """
        from project.celery import app
        from workflows_app.tasks import advance_instance

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
        from project.celery import app
        from workflows_app.tasks import advance_instance

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
