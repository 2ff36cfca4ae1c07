"""How "advance instance X" reaches a worker: a backend chosen in settings.

The engine never imports Celery. ``WORKFLOWS_DISPATCHER`` names a class with a
``dispatch(instance_pks)`` method, loaded lazily the way Django picks a tasks
backend. Dispatch happens after commit: the committed instance row is the
outbox, and the scheduler's due query covers a crash between commit and send.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import threading
from collections import deque
from collections.abc import Sequence
from typing import Protocol

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def dispatch(self, instance_pks: Sequence[int]) -> None: ...


def dispatch_soon(instance_pk: int, when: dt.datetime, now: dt.datetime) -> None:
    """A timer due within WORKFLOWS_PRECISE_TIMER_SECONDS also gets its own message.

    The scheduler would wake it anyway, up to a poll interval late; a backend
    with ``dispatch_at`` (Celery) delivers it on time. Backends without it
    (inline) rely on the scheduler alone.
    """
    if (when - now).total_seconds() > settings.WORKFLOWS_PRECISE_TIMER_SECONDS:
        return
    dispatch_at = getattr(get_dispatcher(), "dispatch_at", None)
    if dispatch_at is not None:
        dispatch_at(instance_pk, when, now)


class InlineDispatcher:
    """Advances instances in the calling thread, right away (tests, scripts, shells).

    Re-entrant: an instance created or woken while another one is being
    advanced joins the queue instead of nesting activations.
    """

    _local = threading.local()

    def dispatch(self, instance_pks: Sequence[int]) -> None:
        from . import runner

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


@functools.cache
def _load(path: str) -> Dispatcher:
    return import_string(path)()


def get_dispatcher() -> Dispatcher:
    return _load(settings.WORKFLOWS_DISPATCHER)


def dispatch_on_commit(instance_pks: Sequence[int]) -> None:
    """Ring the doorbell once the surrounding transaction commits."""
    pks = list(instance_pks)
    if pks:
        transaction.on_commit(lambda: get_dispatcher().dispatch(pks), robust=True)
