"""Start web, worker and scheduler together (what ``make run`` does), and keep them running.

Each runs as its own process, exactly as in production, in its own process
group (so a fault, or a signal sent to one group, hits only that process).
This command supervises them: a child that exits, whatever the reason, is
started again after a capped, jittered back-off (reset once it has run for a
while), with a log line each time; it never stops the whole stack. Ctrl-C or
SIGTERM stops everything: each child gets SIGTERM and
``CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT`` plus a margin to exit, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ._resilience import Backoff

# A child that ran this long before exiting starts again after the first delay.
STABLE_SECONDS = 60.0
RESTART_FIRST_SECONDS = 1.0
RESTART_CAP_SECONDS = 30.0
# Added to the worker's soft shutdown timeout before a stopping child is killed.
STOP_MARGIN_SECONDS = 5.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float | None = None
    restarts: int = 0
    backoff: Backoff = field(
        default_factory=lambda: Backoff(first=RESTART_FIRST_SECONDS, cap=RESTART_CAP_SECONDS)
    )


def _die_with_parent() -> None:
    """In the child, before exec: be sent SIGTERM if this supervisor dies (Linux only)."""
    os.setsid()  # its own session and process group
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class Command(BaseCommand):
    help = (
        "Run the web server, a worker and the scheduler in one terminal, restarting any that exits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def log(self, message: str) -> None:
        self.stderr.write(f"[run_all] {message}")
        self.stderr.flush()

    def start(self, child: Child) -> None:
        child.process = subprocess.Popen(
            child.argv, env=os.environ.copy(), preexec_fn=_die_with_parent
        )
        child.started = time.monotonic()
        child.restart_at = None

    def handle(self, *args: Any, **options: Any) -> None:
        manage = [sys.executable, "manage.py"]
        address = f"{options['host']}:{options['port']}"
        children = [
            Child("web", [*manage, "runserver", address, "--noreload"]),
            Child("worker", [*manage, "workflows_worker"]),
            Child("scheduler", [*manage, "workflows_scheduler"]),
        ]
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for child in children:
            self.start(child)
        pids = ", ".join(f"{c.name} pid {c.process.pid}" for c in children if c.process)
        self.stdout.write(
            f"Web on http://{options['host']}:{options['port']}/ ({pids}). "
            "A process that exits is started again; Ctrl-C stops everything."
        )
        self.stdout.flush()
        try:
            while not stopping:
                self.supervise(children)
                time.sleep(0.2)
        finally:
            self.stop_all(children)

    def supervise(self, children: list[Child]) -> None:
        now = time.monotonic()
        for child in children:
            process = child.process
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.start(child)
                    assert child.process is not None
                    self.log(f"{child.name} started again (pid {child.process.pid})")
                continue
            if process is None or process.poll() is None:
                continue
            if now - child.started >= STABLE_SECONDS:
                child.backoff.reset()
            delay = child.backoff.next_delay()
            child.restarts += 1
            child.restart_at = now + delay
            code = process.returncode
            how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
            self.log(
                f"{child.name} (pid {process.pid}) {how} after {now - child.started:.0f} s; "
                f"starting it again in {delay:.1f} s (restart {child.restarts})"
            )

    def stop_all(self, children: list[Child]) -> None:
        running = [c.process for c in children if c.process and c.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)  # the group leader decides for its children
        grace = float(settings.CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT) + STOP_MARGIN_SECONDS
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"pid {process.pid} did not stop within {grace:.0f} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
