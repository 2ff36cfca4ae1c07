"""Long-running processes ride out database faults and stop on SIGTERM (issue 10, bugs 1 and 12).

Real ``workflows_scheduler`` and ``workflows_worker`` processes on PostgreSQL
and Redis. Database faults are real: the test terminates the processes'
sessions with ``pg_terminate_backend`` (only sessions of this test's
``application_name``), and to hit one exact statement it holds an exclusive
lock on the instance table until the process's next statement waits on it,
then terminates that session while it waits.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction

from tests.integration import ledger
from tests.integration.conftest import (
    LEASE_SECONDS,
    ROOT,
    Stack,
    _uses_postgresql,
    wait_for,
)
from workflows_app.engine.dispatch import BaseDispatcher
from workflows_app.models import Instance

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RECOVERY = LEASE_SECONDS + 30
INSTANCE_TABLE = Instance._meta.db_table


class BrokerDownDispatcher(BaseDispatcher):
    """The test process cannot ring: only the scheduler can get an instance started."""

    def dispatch(self, instance_pks):
        raise ConnectionError("Error 111 connecting to redis: Connection refused")

    def ring(self, count: int = 1) -> None:
        raise ConnectionError("Error 111 connecting to redis: Connection refused")


def _sessions(stack: Stack, *, waiting_on_lock: bool = False) -> list[tuple[int, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # fresh view inside a transaction
        sql = "SELECT pid, query FROM pg_stat_activity WHERE application_name = %s"
        if waiting_on_lock:
            sql += " AND wait_event_type = 'Lock'"
        cursor.execute(sql, [stack.application_name])
        return [(pid, query) for pid, query in cursor.fetchall()]


def _terminate(pids: list[int]) -> None:
    with connection.cursor() as cursor:
        for pid in pids:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def _kill_session_at_statement(stack: Stack, position: int, alive: Callable[[], bool]) -> str:
    """Let the process run ``position - 1`` statements on the instance table, kill it in the next.

    Each statement is caught waiting on an exclusive table lock this test
    holds; releasing the lock lets it run, and the lock is taken again at
    once to catch the next one. Returns the text of the statement it was
    killed in.
    """
    for step in range(1, position + 1):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {INSTANCE_TABLE} IN ACCESS EXCLUSIVE MODE")
            blocked = wait_for(
                lambda: _sessions(stack, waiting_on_lock=True) or not alive(), timeout=30
            )
            if blocked is True:
                return "(process exited)"
            if step == position:
                _terminate([pid for pid, _ in blocked])
                return blocked[0][1]
    raise AssertionError("unreachable")


def test_the_scheduler_survives_its_session_killed_in_any_statement(stack, settings):
    # The bug: only round() was guarded; the sleep computation's query
    # (next_wake_at) raising OperationalError ended the process. Kill the
    # scheduler's session in each of its statements in turn, two loops' worth,
    # so every statement of a loop (round and sleep alike) is hit once.
    settings.WORKFLOWS_DISPATCHER = f"{__name__}.BrokerDownDispatcher"
    stack.start_scheduler()
    scheduler = stack.processes["scheduler"]

    def alive() -> bool:
        return scheduler.poll() is None

    killed_in = []
    for position in range(1, 9):
        killed_in.append(_kill_session_at_statement(stack, position, alive))
        assert alive(), f"the scheduler exited after its session was killed in: {killed_in[-1]}"
        time.sleep(0.3)
    assert len(set(killed_in)) >= 2  # several different statements were hit

    # It carries on by itself: an instance only the scheduler can start runs.
    instance, key = stack.create("itest-one-step")
    stack.start_worker("w1")
    stack.wait_status(instance, "complete", timeout=RECOVERY)
    assert ledger.count(key, "only") == 1
    assert alive()
    log = stack.log("scheduler")
    assert "retrying with back-off" in log
    assert "works again" in log


def test_the_scheduler_rides_out_repeated_session_kills_with_one_line_per_streak(stack, settings):
    settings.WORKFLOWS_DISPATCHER = f"{__name__}.BrokerDownDispatcher"
    stack.start_scheduler()
    scheduler = stack.processes["scheduler"]
    # A storm: every session of this test's processes killed, again and again, for 3 s.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        _terminate([pid for pid, _ in _sessions(stack)])
        time.sleep(0.02)
    assert scheduler.poll() is None

    instance, _ = stack.create("itest-one-step")
    stack.start_worker("w1")
    stack.wait_status(instance, "complete", timeout=RECOVERY)
    assert scheduler.poll() is None
    log = stack.log("scheduler")
    # One line when a streak of failures starts and one when it ends, not one per try.
    assert log.count("retrying with back-off") == log.count("works again") >= 1
    assert log.count("retrying with back-off") < 20


def test_a_worker_whose_session_is_killed_mid_step_carries_on(stack):
    stack.start_worker("w1", concurrency=1)
    stack.start_scheduler()
    worker = stack.processes["w1"]
    instance, key = stack.create("itest-three-steps", b_seconds=2)
    wait_for(lambda: ledger.entries(key, "B"), timeout=30)

    # Every session of the worker and the scheduler dies while B runs: B's
    # result cannot be written, the task fails inside the pool process.
    _terminate([pid for pid, _ in _sessions(stack)])

    stack.wait_status(instance, "complete", timeout=RECOVERY)
    assert worker.poll() is None  # the same worker process, reconnected
    assert ledger.count(key, "A") == 1
    assert ledger.count(key, "C") == 1
    # And it goes on taking work.
    second, _ = stack.create("itest-one-step")
    stack.wait_status(second, "complete", timeout=RECOVERY)
    assert worker.poll() is None


def _group_alive(stack: Stack, name: str) -> bool:
    """Is any process of the group still running (its leader reaped first, not a zombie)?"""
    stack.processes[name].poll()
    try:
        os.killpg(stack.processes[name].pid, 0)
    except ProcessLookupError:
        return False
    return True


SOFT_SHUTDOWN = 8
# The documented promise: SIGTERM stops a worker within its soft shutdown
# timeout plus a few seconds. Generous here, for a loaded CI machine.
GRACE = SOFT_SHUTDOWN + 20


def test_sigterm_to_the_worker_group_lets_a_running_step_finish_then_stops(stack):
    # systemd, supervisord's stopasgroup or `kill -TERM -<pgid>` signal the whole
    # group. The pool processes used to die at once, in the middle of the step
    # (which then ran again elsewhere), and the main process could hang.
    stack.start_worker("w1", concurrency=2, CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT=str(SOFT_SHUTDOWN))
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", b_seconds=2)
    wait_for(lambda: ledger.entries(key, "B"), timeout=30)

    stopped_at = time.monotonic()
    stack.signal_group("w1", signal.SIGTERM)
    wait_for(lambda: not _group_alive(stack, "w1"), timeout=GRACE)
    assert time.monotonic() - stopped_at <= GRACE
    stack.processes["w1"].wait(timeout=5)

    # B had time to finish within the grace period: it ran once, and the
    # instance completes (there or on the next worker) without running it again.
    stack.start_worker("w2")
    stack.wait_status(instance, "complete", timeout=RECOVERY)
    assert [e["attempt"] for e in ledger.entries(key, "B")] == [1]
    assert [ledger.count(key, step) for step in ("A", "C")] == [1, 1]


def test_sigterm_to_the_worker_group_hands_back_a_step_that_cannot_finish(stack):
    stack.start_worker("w1", concurrency=2, CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT="2")
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", block_first=True)
    wait_for(lambda: ledger.entries(key, "B"), timeout=30)

    stack.signal_group("w1", signal.SIGTERM)
    wait_for(lambda: not _group_alive(stack, "w1"), timeout=2 + 20)

    # The unfinished activation was handed back: another worker completes it.
    stack.start_worker("w2")
    stack.wait_status(instance, "complete", timeout=RECOVERY)
    assert [e["attempt"] for e in ledger.entries(key, "B")] == [1, 2]
    assert [ledger.count(key, step) for step in ("A", "C")] == [1, 1]


# --- A real PostgreSQL restart, on a private cluster -------------------------
# The shared server is never restarted: this test starts its own cluster
# (initdb + pg_ctl, as the ``postgres`` user when run as root) on
# ITEST_PRIVATE_PG_PORT (5442), with the embedded filesystem broker, so it
# needs neither the shared PostgreSQL's downtime nor Redis.

PRIVATE_PG_PORT = int(os.environ.get("ITEST_PRIVATE_PG_PORT", "5442"))


def _pg_binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PrivateCluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="resilience-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.running = False

    def _run(self, *argv: str) -> None:
        done = subprocess.run(
            [*self.as_postgres, *argv], capture_output=True, text=True, timeout=120
        )
        if done.returncode:
            raise RuntimeError(f"{argv[0]} failed: {done.stderr or done.stdout}")

    def init(self) -> None:
        initdb = _pg_binary("initdb")
        assert initdb is not None
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {PRIVATE_PG_PORT} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = _pg_binary("pg_ctl")
        assert pg_ctl is not None
        log = str(self.root / "log")
        self._run(pg_ctl, "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", "60", "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        pg_ctl = _pg_binary("pg_ctl")
        assert pg_ctl is not None
        self._run(pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def destroy(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    if not _pg_binary("initdb") or not _pg_binary("pg_ctl"):
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl)")
    if not _uses_postgresql():
        pytest.skip("the PostgreSQL fault tests run in the PostgreSQL suite (DATABASE_URL)")
    cluster = PrivateCluster()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


def _manage(env: dict[str, str], code: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_scheduler_and_worker_ride_out_a_postgresql_restart(private_cluster, tmp_path):
    with psycopg.connect(
        f"host=127.0.0.1 port={PRIVATE_PG_PORT} user=postgres dbname=postgres", autocommit=True
    ) as admin:
        admin.execute("CREATE DATABASE resilience_private")
    dsn = f"host=127.0.0.1 port={PRIVATE_PG_PORT} user=postgres dbname=resilience_private"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{PRIVATE_PG_PORT}/resilience_private",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_DIR": str(tmp_path / "broker"),
        "WORKFLOWS_DISPATCHER": "workflows_app.tasks.CeleryDispatcher",
        "WORKFLOW_MODULES": "tests.integration.workflows",
        "WORKFLOWS_LEASE_SECONDS": str(LEASE_SECONDS),
        "WORKFLOWS_SCHEDULER_POLL_SECONDS": "0.1",
        "CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT": "0",
        "ITEST_WORKER": "1",
        "PYTHONUNBUFFERED": "1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    _manage(
        env,
        "from tests.integration import ledger; from workflows_app import services;"
        "from workflows_app.models import Account; ledger.create_tables();"
        "a = Account.objects.create(name='Private');"
        "[services.workflow_enable(account=a, name=n)"
        " for n in ('itest-three-steps', 'itest-one-step')]",
    )

    def create(workflow: str, **params: Any) -> int:
        return int(
            _manage(
                env,
                "from workflows_app import services;"
                "from workflows_app.models import Workflow;"
                f"w = Workflow.objects.get(name={workflow!r});"
                f"print(services.instance_create(workflow=w, params={params!r}).pk)",
            ).splitlines()[-1]
        )

    def status(pk: int) -> str:
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                f"SELECT status FROM {INSTANCE_TABLE} WHERE id = %s", [pk]
            ).fetchone()
        return str(row[0]) if row else ""

    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    for name, argv in (
        ("worker", ["workflows_worker", "--concurrency", "1"]),
        ("scheduler", ["workflows_scheduler"]),
    ):
        logs[name] = tmp_path / f"{name}.log"
        with open(logs[name], "wb") as out:
            processes[name] = subprocess.Popen(
                [sys.executable, "manage.py", *argv],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    try:
        wait_for(lambda: "ready." in logs["worker"].read_text(errors="replace"), timeout=60)
        # A durable sleep longer than the precise-timer window: only the
        # scheduler can wake it, after the restart.
        sleeper = create("itest-three-steps", key="sleeper", sleep="8 seconds")
        wait_for(lambda: status(sleeper) == "waiting", timeout=60, interval=0.2)

        private_cluster.stop("fast")  # every session ends; connections are refused
        time.sleep(3)
        private_cluster.start()

        wait_for(lambda: status(sleeper) == "complete", timeout=90, interval=0.5)
        after = create("itest-one-step", key="after")
        wait_for(lambda: status(after) == "complete", timeout=60, interval=0.5)
        assert processes["worker"].poll() is None
        assert processes["scheduler"].poll() is None
        log = logs["scheduler"].read_text(errors="replace")
        assert "retrying with back-off" in log
        assert "works again" in log
    finally:
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def test_a_worker_whose_pool_process_is_wedged_still_stops_within_the_grace_period(stack):
    # Billiard's pool shutdown can wait forever (a pool process that died
    # holding a pipe lock; here one that is frozen). The main process then
    # exits by force at its deadline: soft shutdown timeout + 4 s.
    stack.start_worker("w1", concurrency=1, CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT="2")
    stack.start_scheduler()
    instance, key = stack.create("itest-three-steps", block_first=True)
    entered = wait_for(lambda: ledger.entries(key, "B"), timeout=30)
    os.kill(entered[0]["pid"], signal.SIGSTOP)  # the pool process running B

    stack.processes["w1"].send_signal(signal.SIGTERM)
    wait_for(lambda: not _group_alive(stack, "w1"), timeout=2 + 20)

    stack.start_worker("w2")
    stack.wait_status(instance, "complete", timeout=RECOVERY)
    assert [e["attempt"] for e in ledger.entries(key, "B")] == [1, 2]
