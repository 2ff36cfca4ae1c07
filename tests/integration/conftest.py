"""Real processes for the fault tests: Celery workers and the scheduler, on PostgreSQL + Redis.

Each test gets a ``stack``: the test database (transactional, so separate
processes see every commit), a Redis database of its own per xdist worker,
and helpers to start, kill, stop and resume worker and scheduler processes.
Every process is started in its own session, so a fault hits exactly the
process group the test names, and teardown kills only what the test started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from tests.integration import ledger
from workflows_app import services
from workflows_app.engine import registry
from workflows_app.models import Account, Instance, Workflow

ROOT = Path(__file__).resolve().parents[2]
REDIS_HOST = os.environ.get("ITEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("ITEST_REDIS_PORT", "6379"))
QUEUE = "workflows"
LEASE_SECONDS = 3
MAX_DELIVERIES = 3
# How long the fault tests give the scheduler to ring again for due work (a margin only).
REDISPATCH_SECONDS = 2
WORKFLOWS = ["itest-three-steps", "itest-one-step", "itest-kills-its-worker"]


def wait_for(predicate: Callable[[], Any], *, timeout: float, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy; fail the test with what was awaited otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


def _uses_postgresql() -> bool:
    return django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@pytest.fixture
def _needs_postgresql() -> None:
    if not _uses_postgresql():
        pytest.skip(
            "integration tests need PostgreSQL (set DATABASE_URL=postgres://...): worker "
            "processes share the test database with the test, which the SQLite test "
            "database file does not support under concurrent writers and xdist"
        )


@pytest.fixture(scope="session")
def redis_url(worker_id: str) -> str:
    """A Redis database per xdist worker (15, 14, ...), never FLUSHALL: others share Redis."""
    index = 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))
    db = 15 - index
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
    try:
        client.ping()
    except redis.ConnectionError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}: {exc}")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"


@pytest.fixture(scope="session")
def _publisher(redis_url: str) -> Iterator[None]:
    """Make this (test) process publish to the test's Redis database."""
    from project.celery import app

    app.conf.broker_url = redis_url
    app.conf.broker_transport_options = {}
    yield
    app.pool.force_close_all()


class Stack:
    """The processes of one test, and what the test needs to inject faults."""

    def __init__(self, *, redis_url: str, tmp_path: Path, account: Account) -> None:
        self.redis_url = redis_url
        self.redis = redis.Redis.from_url(redis_url)
        self.tmp_path = tmp_path
        self.account = account
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        db = connection.settings_dict
        # Names this test's processes' sessions, so teardown can end them all.
        self.application_name = f"itest-{uuid.uuid4().hex[:12]}"
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "DATABASE_URL": (
                f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
                f"{db['PORT'] or 5432}/{db['NAME']}?application_name={self.application_name}"
            ),
            "CELERY_BROKER_URL": redis_url,
            "CELERY_QUEUE": QUEUE,
            "WORKFLOWS_DISPATCHER": "workflows_app.tasks.CeleryDispatcher",
            "WORKFLOW_MODULES": "tests.integration.workflows",
            "WORKFLOWS_LEASE_SECONDS": str(LEASE_SECONDS),
            "WORKFLOWS_MAX_DELIVERIES": str(MAX_DELIVERIES),
            "WORKFLOWS_SCHEDULER_POLL_SECONDS": "0.1",
            "CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT": "0",
            "ITEST_WORKER": "1",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }

    # --- processes ---

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = self.tmp_path / f"{name}.log"
        with open(log, "wb") as out:
            self.processes[name] = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: faults hit only it
            )
        self.logs[name] = log

    def start_worker(
        self, name: str = "w1", *, concurrency: int = 2, wait: bool = True, **env: str
    ) -> None:
        self._spawn(
            name,
            [
                sys.executable,
                "manage.py",
                "workflows_worker",
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"{name}-{uuid.uuid4().hex[:6]}@itest",
            ],
            env,
        )
        if wait:
            self.wait_ready(name)

    def wait_ready(self, name: str) -> None:
        wait_for(lambda: "ready." in self.log(name), timeout=30, interval=0.1)

    def start_scheduler(self, name: str = "scheduler", **env: str) -> None:
        self._spawn(name, [sys.executable, "manage.py", "workflows_scheduler"], env)
        wait_for(lambda: "scheduler started" in self.log(name), timeout=30, interval=0.1)

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def signal_group(self, name: str, signum: int) -> None:
        os.killpg(self.processes[name].pid, signum)

    def group_of(self, pgid: int) -> str:
        """The name of the process whose group a ledger row's pgid belongs to."""
        for name, process in self.processes.items():
            if process.pid == pgid:
                return name
        raise LookupError(pgid)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        # A killed client's backend may linger a moment; the test database is
        # flushed (and dropped at the end) right after this.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                [self.application_name],
            )

    # --- workflows ---

    def create(self, workflow: str, **params: Any) -> tuple[Instance, str]:
        key = uuid.uuid4().hex
        instance = services.instance_create(
            workflow=Workflow.objects.get(account=self.account, name=workflow),
            params={"key": key, **params},
        )
        return instance, key

    def status(self, instance: Instance) -> str:
        return Instance.objects.values_list("status", flat=True).get(pk=instance.pk)

    def wait_status(self, instance: Instance, status: str, *, timeout: float) -> None:
        def reached() -> bool:
            current = self.status(instance)
            if current in ("errored", "terminated", "complete") and current != status:
                error = Instance.objects.values_list("error", flat=True).get(pk=instance.pk)
                pytest.fail(f"instance ended {current} instead of {status}: {error}")
            return current == status

        wait_for(reached, timeout=timeout, interval=0.1)

    def queued_messages(self) -> list[Any]:
        return list(self.redis.lrange(QUEUE, 0, -1))


@pytest.fixture
def stack(
    _needs_postgresql: None,
    _test_workflows: None,
    _publisher: None,
    transactional_db: None,
    redis_url: str,
    settings: Any,
    tmp_path: Path,
) -> Iterator[Stack]:
    settings.WORKFLOW_MODULES = ["tests.integration.workflows"]
    settings.WORKFLOWS_DISPATCHER = "workflows_app.tasks.CeleryDispatcher"
    registry.reset()
    ledger.create_tables()
    redis.Redis.from_url(redis_url).flushdb()
    account = Account.objects.create(name="Integration")
    for name in WORKFLOWS:
        services.workflow_enable(account=account, name=name)
    running = Stack(redis_url=redis_url, tmp_path=tmp_path, account=account)
    try:
        yield running
    finally:
        running.stop_all()
        running.redis.flushdb()
        registry.reset()
