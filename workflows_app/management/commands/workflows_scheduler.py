"""``manage.py workflows_scheduler``: turn due timers and lost messages into dispatches.

A loop: take a batch of due instances (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several schedulers can run side by side), send them to the
workers, pause instances whose pending pause waits on a dead worker, then
sleep until the next timer, never longer than the poll interval (which also
bounds how late a crashed worker's expired lease is noticed).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from workflows_app import services
from workflows_app.engine import clock, scheduler
from workflows_app.engine.journal import queue

from ._resilience import Backoff, FailureStreak, drop_connections

logger = logging.getLogger("workflows_app.scheduler")

# The longest wait between two tries while the database is unreachable.
BACKOFF_CAP_SECONDS = 10.0


class Command(BaseCommand):
    help = "Dispatch due workflow instances (timers, retries, lost messages) in a loop."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch", type=int, default=queue.DISPATCH_BATCH, help="instances per round"
        )
        parser.add_argument(
            "--poll-interval",
            type=float,
            default=None,
            help="longest sleep between rounds, in seconds "
            "(default: settings.WORKFLOWS_SCHEDULER_POLL_SECONDS)",
        )
        parser.add_argument("--once", action="store_true", help="run one round and exit")
        parser.add_argument(
            "--heartbeat-file",
            default=None,
            help="touch this file after every successful round (a liveness probe reads its age)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        poll = options["poll_interval"] or settings.WORKFLOWS_SCHEDULER_POLL_SECONDS
        batch = options["batch"]
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        logger.info(
            "scheduler started (batch %d, poll %.3fs, dispatcher %s)",
            batch,
            poll,
            settings.WORKFLOWS_DISPATCHER,
        )
        # Anything the loop does may meet a database that is restarting, failing
        # over, has dropped this session or (SQLite) is locked: the state is in
        # the rows, so wait (capped, jittered back-off) and carry on.
        streak = FailureStreak(
            logger,
            "scheduler round",
            backoff=Backoff(first=min(poll, 0.5), cap=BACKOFF_CAP_SECONDS),
        )
        while not stop.is_set():
            try:
                sent = self.round(batch=batch)
                delay = 0.0 if sent >= batch else self.sleep_seconds(poll)
            except Exception as exc:
                drop_connections()
                if options["once"]:
                    raise CommandError(f"scheduler round failed: {exc}") from exc
                delay = streak.failed(exc)
            else:
                streak.succeeded()
                if options["heartbeat_file"]:
                    Path(options["heartbeat_file"]).touch()
            if options["once"]:
                break
            if delay:
                stop.wait(delay)
        logger.info("scheduler stopped")

    # Retention purges are housekeeping: every few minutes is plenty.
    PURGE_EVERY_SECONDS = 300.0
    _last_purge = 0.0

    def round(self, *, batch: int) -> int:
        close_old_connections()
        if time.monotonic() - self._last_purge > self.PURGE_EVERY_SECONDS:
            self._last_purge = time.monotonic()
            purged = services.retention_purge(limit=batch)
            if purged:
                logger.info("purged the state of %d instance(s) past retention", purged)
        paused = queue.pause_stalled(limit=batch)
        if paused:
            logger.info("paused %d instance(s) whose worker died during a pending pause", paused)
        sent = scheduler.dispatch_due(limit=batch)
        if sent:
            logger.debug("dispatched %d instance(s)", sent)
        return sent

    def sleep_seconds(self, poll: float) -> float:
        upcoming = queue.next_wake_at()
        if upcoming is None:
            return poll
        return min(poll, max((upcoming - clock.now()).total_seconds(), 0.001))
