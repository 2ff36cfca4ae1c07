"""What the long-running commands share to ride out failures: back-off and failure streaks.

Not a command (the leading underscore keeps Django from listing it).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time

from django.db import DatabaseError, connections


class Backoff:
    """Capped, jittered exponential back-off: ``first``, doubling up to ``cap`` seconds.

    Each delay is drawn between half and all of the current step ("equal
    jitter"), so processes that failed together do not retry in lockstep.
    """

    def __init__(self, *, first: float, cap: float, factor: float = 2.0) -> None:
        self.first = first
        self.cap = cap
        self.factor = factor
        self.failures = 0

    def next_delay(self) -> float:
        step = min(self.cap, self.first * self.factor**self.failures)
        self.failures += 1
        return step / 2 + random.uniform(0, step / 2)  # jitter, not a secret

    def reset(self) -> None:
        self.failures = 0


class FailureStreak:
    """Logs one line when a run of failures starts and one when it ends, none in between.

    A database restart makes every round fail for a while; a line per round
    would bury the log. The first failure is logged with its traceback (a
    database error as a warning, anything else as an error), later ones of the
    same streak only at debug level.
    """

    def __init__(self, logger: logging.Logger, what: str, *, backoff: Backoff) -> None:
        self.logger = logger
        self.what = what
        self.backoff = backoff
        self.started: float | None = None

    @property
    def failing(self) -> bool:
        return self.started is not None

    def failed(self, exc: BaseException) -> float:
        """Record a failure; returns how long to wait before trying again."""
        delay = self.backoff.next_delay()
        if self.started is None:
            self.started = time.monotonic()
            level = logging.WARNING if isinstance(exc, DatabaseError) else logging.ERROR
            self.logger.log(
                level,
                "%s failed (%s: %s); retrying with back-off (up to %.0f s) until it works",
                self.what,
                type(exc).__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                self.backoff.cap,
                exc_info=exc,
            )
        else:
            self.logger.debug("%s failed again (%s); next try in %.1f s", self.what, exc, delay)
        return delay

    def succeeded(self) -> None:
        if self.started is not None:
            self.logger.warning(
                "%s works again after %d failure(s) over %.1f s",
                self.what,
                self.backoff.failures,
                time.monotonic() - self.started,
            )
        self.started = None
        self.backoff.reset()


def drop_connections() -> None:
    """Close every database connection of this thread; the next query opens a fresh one.

    After a server restart, a failover or ``pg_terminate_backend`` the old
    connection is dead; closing it may itself fail, which is fine.
    """
    for connection in connections.all(initialized_only=True):
        with contextlib.suppress(Exception):
            connection.close()
