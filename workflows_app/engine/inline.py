"""The inline dispatch backend: advance instances in the calling process (tests, scripts).

``WORKFLOWS_DISPATCHER = "workflows_app.engine.inline.InlineDispatcher"``.
Timers come due only when something looks for them: ``scheduler.tick()``,
``scheduler.run_until_idle()``, or a scheduler round ringing the doorbell
(``ring``: drain every due instance in the calling thread).
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
from collections import deque
from collections.abc import Sequence

from . import runner
from .dispatch import BaseDispatcher

logger = logging.getLogger(__name__)


class InlineDispatcher(BaseDispatcher):
    """Advances instances in the calling thread, right away.

    ``dispatch`` runs exactly the instances named (a test sees only what it
    created or woke run); ``ring`` takes due instances, most overdue first,
    until none is due. Re-entrant: work asked for while another activation
    runs in this thread joins the queue instead of nesting activations.
    """

    _local = threading.local()

    def dispatch(self, instance_pks: Sequence[int]) -> None:
        self._run(list(instance_pks))

    def ring(self, count: int) -> None:
        if count > 0:
            self._run([None])  # None: drain whatever is due

    def _run(self, work: list[int | None]) -> None:
        queue: deque[int | None] | None = getattr(self._local, "queue", None)
        if queue is not None:
            queue.extend(work)
            return
        if _has_running_loop():
            # An async caller (an async view, a notebook, Playwright's sync API):
            # activations need a thread without an event loop of its own.
            worker = threading.Thread(target=self._run, args=(work,))
            worker.start()
            worker.join()
            return
        queue = self._local.queue = deque(work)
        try:
            while queue:
                pk = queue.popleft()
                try:
                    if pk is None:
                        runner.drain(seconds=math.inf)
                    else:
                        runner.advance(pk)
                except Exception:
                    logger.exception("advancing instance %s failed", pk or "(due work)")
        finally:
            self._local.queue = None


def _has_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
