"""``manage.py workflows_worker``: a Celery worker with this project's defaults.

Replaces the current process with ``celery -A project worker`` (prefork pool,
concurrency 2, no mingle/gossip: workers share nothing but the database).
Arguments after ``--`` are passed to Celery unchanged, e.g.
``manage.py workflows_worker --concurrency 4 -- --max-tasks-per-child 500``.

SIGTERM stops it within a bounded time: it is Celery's soft shutdown
(``REMAP_SIGTERM=SIGQUIT`` unless the environment sets it otherwise), which
gives running tasks ``CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT`` seconds, then
cancels them and hands their messages back to the broker (the instance's
lease makes the redelivery harmless). Celery's own default, a warm shutdown,
would wait for running tasks however long they take. Pool processes ignore a
SIGTERM that is not from the main process (``project/celery.py``), so one sent
to the whole process group behaves the same.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run a Celery worker that advances workflow instances."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument("--pool", default="prefork")
        parser.add_argument("--loglevel", default="INFO")
        parser.add_argument("--hostname", default=None, help="node name (default: celery's)")
        parser.add_argument("celery_args", nargs="*", help="extra arguments for celery worker")

    def handle(self, *args: Any, **options: Any) -> None:
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "project",
            "worker",
            "--pool",
            options["pool"],
            "--concurrency",
            str(options["concurrency"]),
            "--loglevel",
            options["loglevel"],
            "--queues",
            settings.CELERY_TASK_DEFAULT_QUEUE,
            "--without-mingle",
            "--without-gossip",
        ]
        if options["hostname"]:
            argv += ["--hostname", options["hostname"]]
        argv += options["celery_args"]
        os.environ.setdefault("REMAP_SIGTERM", "SIGQUIT")
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)
