"""Start web, worker and scheduler together (what ``make run`` does).

Each runs as its own process, exactly as in production; this command only
supervises them: if one exits, the others are stopped, and Ctrl-C stops all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server, a worker and the scheduler in one terminal."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args: Any, **options: Any) -> None:
        manage = [sys.executable, "manage.py"]
        processes = {
            "web": [*manage, "runserver", f"{options['host']}:{options['port']}", "--noreload"],
            "worker": [*manage, "workflows_worker"],
            "scheduler": [*manage, "workflows_scheduler"],
        }
        children = {
            name: subprocess.Popen(command, env=os.environ.copy())
            for name, command in processes.items()
        }
        self.stdout.write(
            f"Web on http://{options['host']}:{options['port']}/ "
            f"(worker pid {children['worker'].pid}, scheduler pid {children['scheduler'].pid}). "
            "Ctrl-C stops everything."
        )
        stopping = False

        def stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping:
                exited = [name for name, child in children.items() if child.poll() is not None]
                if exited:
                    self.stderr.write(f"{', '.join(exited)} exited; stopping the others.")
                    break
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children.values():
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
