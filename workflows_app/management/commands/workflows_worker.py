"""``manage.py workflows_worker``: a Celery worker with this project's defaults.

Replaces the current process with ``celery -A project worker`` (prefork pool,
concurrency 2, no mingle/gossip: workers share nothing but the database).
Arguments after ``--`` are passed to Celery unchanged, e.g.
``manage.py workflows_worker --concurrency 4 -- --max-tasks-per-child 500``.
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
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)
