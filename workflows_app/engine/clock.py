"""The engine's notion of "now", replaceable in tests.

Two clocks:

* ``now()``: this process's clock. Durable timers are computed on it (a sleep's
  end, a retry's delay), and it is what a test's ``ManualClock`` moves.
* the database's clock (``database_time()``): every lease and due-time
  *comparison* (claim, lease renewal, the due-work count, the stalled-pause
  rescue) is made by the database with its own ``now()``, inside the SQL
  statement, so no host's clock skew can steal a live lease or hold back due
  work. On PostgreSQL that is ``statement_timestamp()``; SQLite is embedded, so
  the one machine's clock is the database's clock.

A worker also keeps ``now()`` near the database's clock: each claim reads the
database's time, and a host clock off by more than ``SKEW_TOLERANCE`` is
corrected by that offset (``observe_database_time``). So the timers a worker
computes (a sleep's end, a retry's delay) are on the database's clock too, and
a worker behind it does not take a due sleep for one still running.

A ``ManualClock`` installed with ``set_clock`` stands in for both (a test's
time is the whole world's time, database included). Any other replacement
only moves this process's clock, which is how a test simulates a host whose
clock is skewed. Durations of work (CPU and wall ms) use real timers instead.
"""

import datetime as dt
from collections.abc import Callable

from django.utils import timezone

_override: Callable[[], dt.datetime] | None = None
_database: Callable[[], dt.datetime] | None = None
# How far the database's clock is ahead of this host's, when it matters.
_offset = dt.timedelta(0)

# Hosts kept in sync (NTP: a few milliseconds) are left uncorrected, so their
# clock never jitters by a measurement's noise.
SKEW_TOLERANCE = dt.timedelta(milliseconds=50)


def now() -> dt.datetime:
    """This process's time, corrected onto the database's clock if it was measured off."""
    return host_now() + _offset


def host_now() -> dt.datetime:
    """This host's own clock (a test's manual clock, or a simulated skewed clock)."""
    return _override() if _override is not None else timezone.now()


def observe_database_time(database: dt.datetime, sent: dt.datetime, received: dt.datetime) -> None:
    """Record the database's time, read by a statement sent and answered at these host times."""
    global _offset
    if _database is not None:
        return  # a test's manual clock is the database's clock already
    measured = database - (sent + (received - sent) / 2)
    _offset = measured if abs(measured) > SKEW_TOLERANCE else dt.timedelta(0)


def database_time() -> dt.datetime | None:
    """The time a test installed in place of the database's clock, or None.

    None means: let the database read its own clock (``journal/dbtime.py``).
    """
    return _database() if _database is not None else None


def set_clock(source: Callable[[], dt.datetime] | None, *, database: bool | None = None) -> None:
    """Install a replacement clock (``None`` restores the real ones).

    ``database`` says whether it also replaces the database's clock; by default
    a ``ManualClock`` does (tests that move time) and anything else does not
    (a process whose own clock is skewed).
    """
    global _override, _database, _offset
    if database is None:
        database = isinstance(source, ManualClock)
    _override = source
    _database = source if database else None
    _offset = dt.timedelta(0)


class ManualClock:
    """A clock that only moves when told to, for tests."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.current = start or timezone.now()

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, delta: dt.timedelta | float) -> dt.datetime:
        """Move forward by a timedelta or by seconds."""
        if not isinstance(delta, dt.timedelta):
            delta = dt.timedelta(seconds=delta)
        self.current += delta
        return self.current
