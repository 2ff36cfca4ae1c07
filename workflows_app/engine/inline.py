"""The inline dispatch backend: advance instances in the calling process (tests, scripts).

``WORKFLOWS_DISPATCHER = "workflows_app.engine.inline.InlineDispatcher"``.
Timers come due only when something looks for them: ``scheduler.tick()`` or
``scheduler.run_until_idle()``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Sequence

from . import runner
from .dispatch import BaseDispatcher

logger = logging.getLogger(__name__)


class InlineDispatcher(BaseDispatcher):
    """Advances instances in the calling thread, right away.

    Re-entrant: an instance created or woken while another one is being
    advanced joins the queue instead of nesting activations.
    """

    _local = threading.local()

    def dispatch(self, instance_pks: Sequence[int]) -> None:
        queue: deque[int] | None = getattr(self._local, "queue", None)
        if queue is not None:
            queue.extend(instance_pks)
            return
        if _has_running_loop():
            # An async caller (an async view, a notebook, Playwright's sync API):
            # activations need a thread without an event loop of its own.
            worker = threading.Thread(target=self.dispatch, args=(list(instance_pks),))
            worker.start()
            worker.join()
            return
        queue = self._local.queue = deque(instance_pks)
        try:
            while queue:
                pk = queue.popleft()
                try:
                    runner.advance(pk)
                except Exception:
                    logger.exception("advancing instance %s failed", pk)
        finally:
            self._local.queue = None


def _has_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
