"""The embedded default (SQLite + filesystem broker) as ``make run`` starts it: real processes.

``run_all`` supervises web, worker and scheduler: a child that dies is
started again, and only Ctrl-C/SIGTERM stops everything. A worker on the
filesystem broker keeps consuming when it meets an empty message file (what
kombu's own transport hands out mid-write, celery/kombu#1551).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _wait(predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(FileNotFoundError):
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of an embedded-default stack in a folder of its own, migrated."""
    folder = tmp_path_factory.mktemp("embedded")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_DIR": str(folder / "broker"),
        "WORKFLOWS_DISPATCHER": "workflows_app.tasks.CeleryDispatcher",
        "CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT": "1",
        "PYTHONUNBUFFERED": "1",
        "FOLDER": str(folder),
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    return env


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = tmp_path / f"{argv[0]}-{len(started)}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "manage.py", *argv],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        return process, log

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_worker_keeps_consuming_after_an_empty_message_file(embedded, spawn):
    worker, log = spawn(["workflows_worker", "--concurrency", "1"], embedded)
    _wait(lambda: "ready." in log.read_text(errors="replace"), timeout=60, what="worker ready")
    queue = Path(embedded["CELERY_BROKER_DIR"]) / "queue"
    # A writer caught between creating its file and writing it (one that gave
    # up long ago, and one still at work), ahead of a real message.
    stale = queue / f"1_{'0' * 32}.workflows.msg"
    stale.touch()
    os.utime(stale, (time.time() - 600, time.time() - 600))
    (queue / f"2_{'1' * 32}.workflows.msg").touch()
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from workflows_app.tasks import doorbell; doorbell.delay()",
        ],
        cwd=ROOT,
        env=embedded,
        check=True,
        timeout=120,
    )

    _wait(
        lambda: (
            "workflows.doorbell" in log.read_text(errors="replace") or worker.poll() is not None
        ),
        timeout=60,
        what="the doorbell to be consumed",
    )
    text = log.read_text(errors="replace")
    assert worker.poll() is None, text[-2000:]
    assert "Unrecoverable error" not in text
    assert "dropped broker message file" in text  # the stale empty file, with a warning
    assert not stale.exists()


def test_run_all_restarts_a_child_that_dies_and_sigterm_stops_everything(embedded, spawn):
    port = _free_port()
    supervisor, log = spawn(["run_all", "--port", str(port)], embedded)
    banner = _wait(
        lambda: re.search(
            r"worker pid (\d+), scheduler pid (\d+)", log.read_text(errors="replace")
        ),
        timeout=60,
        what="run_all's banner",
    )
    worker, scheduler = (int(pid) for pid in banner.groups())
    web_pid = re.search(r"web pid (\d+)", log.read_text(errors="replace"))
    children = [scheduler] + ([int(web_pid.group(1))] if web_pid else [])
    _wait(lambda: "ready." in log.read_text(errors="replace"), timeout=60, what="worker ready")

    # The worker's whole process group dies (kill -9, OOM).
    try:
        os.killpg(worker, signal.SIGKILL)
    except ProcessLookupError:  # not a group leader (the old run_all)
        os.kill(worker, signal.SIGKILL)

    restarted = _wait(
        lambda: re.search(r"worker started again \(pid (\d+)\)", log.read_text(errors="replace")),
        timeout=60,
        what="the worker to be started again",
    )
    new_worker = int(restarted.group(1))
    assert new_worker != worker
    assert supervisor.poll() is None  # the stack did not stop
    assert all(_alive(pid) for pid in [*children, new_worker])
    assert "worker (pid" in log.read_text(errors="replace")  # the exit was logged

    # SIGTERM (or Ctrl-C) still stops everything.
    supervisor.send_signal(signal.SIGTERM)
    supervisor.wait(timeout=60)
    _wait(
        lambda: not any(_alive(pid) for pid in [*children, new_worker]),
        timeout=30,
        what="every child to stop",
    )
