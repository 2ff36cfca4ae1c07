"""The workflow authors' test kit: run instances in the test's process, on a clock you move.

No broker, no worker, no real waiting. With pytest (and pytest-django), add the
kit as a plugin in your ``conftest.py``::

    pytest_plugins = ["workflows_app.testing"]

and request its fixtures: ``workflows_clock`` (a ``ManualClock`` installed as
the engine's clock, the real one restored afterwards), ``workflows_inline``
(instances advance inline, right after the transaction that created or woke
them commits) and ``workflows_account`` (an account to create instances in).
``run_until_idle()`` then does what the scheduler process and its workers do:
it advances every instance whose timer is due, until none is.

Without pytest, ``manual_clock()`` and ``inline_dispatch()`` are the same
things as context managers, and ``make_account()`` creates an account.

PYTEST_DONT_REWRITE: the kit asserts nothing itself, and a conftest may import
it before pytest loads it as a plugin (pytest would warn that it came too late
to rewrite the module's asserts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test.utils import override_settings

from workflows_app import services
from workflows_app.billing.plans import plan_named
from workflows_app.engine import clock as engine_clock
from workflows_app.engine import scheduler
from workflows_app.engine.clock import ManualClock
from workflows_app.models import Account

__all__ = [
    "INLINE_DISPATCHER",
    "ManualClock",
    "inline_dispatch",
    "make_account",
    "manual_clock",
    "run_until_idle",
    "workflows_account",
    "workflows_clock",
    "workflows_inline",
]

# The dispatch backend that advances instances in the calling thread.
INLINE_DISPATCHER = "workflows_app.engine.inline.InlineDispatcher"


@contextmanager
def manual_clock(start: dt.datetime | None = None) -> Iterator[ManualClock]:
    """Install a ``ManualClock`` (at ``start``, default now) as the engine's clock while
    inside; restore the real clock after.

    Durable timers (sleeps, retry delays, event timeouts) are measured on it, so
    ``clock.advance(dt.timedelta(days=3))`` makes three days pass at once.
    """
    clock = ManualClock(start)
    engine_clock.set_clock(clock)
    try:
        yield clock
    finally:
        engine_clock.set_clock(None)


@contextmanager
def inline_dispatch() -> Iterator[None]:
    """Advance instances in the calling thread while inside, whatever the settings say.

    An instance runs as soon as the transaction that created it (or sent it an
    event, or resumed it) commits, until it completes, fails, or parks on a
    sleep or a wait. So the test database must commit: use pytest-django's
    ``transactional_db`` (``django_db(transaction=True)``), not ``db``.
    """
    with override_settings(WORKFLOWS_DISPATCHER=INLINE_DISPATCHER):
        yield


def run_until_idle(*, max_rounds: int = 1000) -> int:
    """Advance every instance whose timer is due, inline, until none is; return how many ran.

    What the scheduler process and its workers do, in the calling thread. Move
    the clock first to make timers due. Stops after ``max_rounds`` rounds, so a
    workflow that keeps rescheduling itself cannot hang the test.
    """
    with inline_dispatch():
        return scheduler.run_until_idle(max_rounds=max_rounds)


def make_account(*, name: str = "Test account", plan: str = "paid") -> Account:
    """A new account on the named plan (``"free"`` or ``"paid"``).

    Paid by default: the Free plan's per-step CPU limit would fail a slow step
    for reasons that have nothing to do with the workflow under test.
    """
    account = services.account_create(name=name)
    account.plan = plan_named(plan)
    account.save(update_fields=["plan"])
    return account


# --- pytest fixtures (load with ``pytest_plugins = ["workflows_app.testing"]``)


@pytest.fixture
def workflows_clock() -> Iterator[ManualClock]:
    """The engine's clock, moved only by ``workflows_clock.advance(...)`` during the test."""
    with manual_clock() as clock:
        yield clock


@pytest.fixture
def workflows_inline(transactional_db: None) -> Iterator[None]:
    """Instances advance inline for the test (on a database that commits)."""
    with inline_dispatch():
        yield


@pytest.fixture
def workflows_account(db: None) -> Account:
    """An account on the Paid plan (``make_account()``)."""
    return make_account()
