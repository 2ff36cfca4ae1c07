"""The engine's notion of "now", replaceable in tests.

Durable timers compare against this clock, so tests can jump months ahead
without waiting. Durations of work (CPU and wall ms) use real timers instead.
"""

import datetime as dt
from collections.abc import Callable

from django.utils import timezone

_override: Callable[[], dt.datetime] | None = None


def now() -> dt.datetime:
    return _override() if _override is not None else timezone.now()


def set_clock(source: Callable[[], dt.datetime] | None) -> None:
    """Install a replacement clock (``None`` restores the real one)."""
    global _override
    _override = source


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
