"""The production dispatcher: one ``advance_instance`` message per instance, via Celery.

Named in ``settings.WORKFLOWS_DISPATCHER``; the engine loads it lazily and
never imports Celery itself. Messages carry only the instance's primary key,
never an ETA or countdown: durable timers are ``Instance.wake_at`` rows that
the scheduler turns into messages when they are due.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

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
