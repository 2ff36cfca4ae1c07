"""How "advance instance X" reaches a worker: a backend chosen in settings.

The engine never imports Celery. ``WORKFLOWS_DISPATCHER`` names a
``BaseDispatcher`` subclass, loaded lazily the way Django picks a tasks
backend: ``workflows_app.engine.inline.InlineDispatcher`` (tests, scripts) or
``workflows_app.tasks.CeleryDispatcher`` (production). Dispatch happens after
commit: the committed instance row is the outbox, and the scheduler's due
query covers a crash between commit and send.
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

    A message is only a doorbell: the instance row decides whether there is
    work, so a backend may deliver late, twice, or not at all (the scheduler
    re-sends what is still due).
    """

    # Can the backend deliver a message at a given time a few seconds away
    # (``dispatch_at``)? Without it, timers wait for the scheduler's next look.
    supports_precise_timers: ClassVar[bool] = False

    @abc.abstractmethod
    def dispatch(self, instance_pks: Sequence[int]) -> None:
        """Have each instance advanced soon; must not raise for a broker that is down."""

    def dispatch_at(self, instance_pk: int, when: dt.datetime, now: dt.datetime) -> None:
        """Have the instance advanced at ``when`` (only if ``supports_precise_timers``)."""
        raise NotImplementedError(f"{type(self).__name__} does not support precise timers")


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
    """Ring the doorbell once the surrounding transaction commits."""
    pks = list(instance_pks)
    if pks:
        transaction.on_commit(lambda: get_dispatcher().dispatch(pks), robust=True)


def dispatch_soon(instance_pk: int, when: dt.datetime, now: dt.datetime) -> None:
    """A timer due within WORKFLOWS_PRECISE_TIMER_SECONDS also gets its own message.

    The scheduler would wake it anyway, up to a poll interval late; a backend
    that supports precise timers (Celery) delivers it on time. The others
    (inline) rely on the scheduler alone.
    """
    if (when - now).total_seconds() > settings.WORKFLOWS_PRECISE_TIMER_SECONDS:
        return
    dispatcher = get_dispatcher()
    if dispatcher.supports_precise_timers:
        dispatcher.dispatch_at(instance_pk, when, now)
