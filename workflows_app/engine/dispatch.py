"""How "there is due work" reaches a worker: a backend chosen in settings.

The database is the queue: an instance is due when its row says so, and a
worker takes the most overdue one itself (``store.claim_next``). A message is
only a *doorbell* that wakes a worker to look; it names no instance. So a
doorbell may arrive late, twice, or never (the scheduler rings again while
work is due), and a stale one costs a worker one empty claim.

The engine never imports Celery. ``WORKFLOWS_DISPATCHER`` names a
``BaseDispatcher`` subclass, loaded lazily the way Django picks a tasks
backend: ``workflows_app.engine.inline.InlineDispatcher`` (tests, scripts) or
``workflows_app.tasks.CeleryDispatcher`` (production). Services ring after
commit: the committed instance row is the outbox, and the scheduler's due
count covers a crash between commit and send.
"""

from __future__ import annotations

import abc
import datetime as dt
import functools
from collections.abc import Sequence
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils.module_loading import import_string


class BaseDispatcher(abc.ABC):
    """A dispatch backend. Subclass it and name the subclass in ``WORKFLOWS_DISPATCHER``.

    A message is only a doorbell: the instance rows decide what work there
    is, so a backend may deliver late, twice, or not at all (the scheduler
    rings again while work is due). No method may raise for a broker that is
    down.
    """

    # Can the backend ring at a given time a few seconds away (``ring_at``)?
    # Without it, timers wait for the scheduler's next look.
    supports_precise_timers: ClassVar[bool] = False

    @abc.abstractmethod
    def dispatch(self, instance_pks: Sequence[int]) -> None:
        """These instances were just made due by a committed write: have them advanced soon.

        A doorbell backend rings one doorbell per instance, up to
        ``MAX_DOORBELLS_PER_DISPATCH``; the inline backend runs exactly them.
        """

    def ring(self, count: int) -> None:
        """Ring ``count`` doorbells: have that many workers look for due work."""
        raise NotImplementedError(f"{type(self).__name__} does not ring doorbells")

    def queued(self) -> int | None:
        """Doorbells waiting in the broker now, or None if the backend cannot tell."""
        return None

    def ring_at(self, when: dt.datetime, now: dt.datetime) -> None:
        """Ring one doorbell at ``when`` (only if ``supports_precise_timers``)."""
        raise NotImplementedError(f"{type(self).__name__} does not support precise timers")


# One committed write makes at most this many doorbells (a batch create of 100
# instances): enough to wake every worker slot, each of which then keeps
# taking due instances; the scheduler tops up the rest.
MAX_DOORBELLS_PER_DISPATCH = 64


def load_dispatcher_class(path: str) -> type[BaseDispatcher]:
    """Import the backend class named by ``path``, or say what is wrong with the setting."""
    try:
        backend = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"WORKFLOWS_DISPATCHER {path!r} cannot be imported: {exc}"
        ) from exc
    if not isinstance(backend, type) or not issubclass(backend, BaseDispatcher):
        raise ImproperlyConfigured(
            f"WORKFLOWS_DISPATCHER {path!r} is not a subclass of "
            "workflows_app.engine.dispatch.BaseDispatcher"
        )
    return backend


@functools.cache
def _load(path: str) -> BaseDispatcher:
    return load_dispatcher_class(path)()


def get_dispatcher() -> BaseDispatcher:
    """The backend named by ``settings.WORKFLOWS_DISPATCHER`` (one instance per path)."""
    return _load(settings.WORKFLOWS_DISPATCHER)


def dispatch_on_commit(instance_pks: Sequence[int]) -> None:
    """Ring the doorbell for these instances once the surrounding transaction commits."""
    pks = list(instance_pks)
    if pks:
        transaction.on_commit(lambda: get_dispatcher().dispatch(pks), robust=True)


def dispatch_soon(when: dt.datetime, now: dt.datetime) -> None:
    """A timer due within WORKFLOWS_PRECISE_TIMER_SECONDS also gets a doorbell of its own.

    The scheduler would wake it anyway, up to a poll interval late; a backend
    that supports precise timers (Celery) rings a countdown doorbell at
    ``when``. The others (inline) rely on the scheduler alone.
    """
    if (when - now).total_seconds() > settings.WORKFLOWS_PRECISE_TIMER_SECONDS:
        return
    dispatcher = get_dispatcher()
    if dispatcher.supports_precise_timers:
        dispatcher.ring_at(when, now)
