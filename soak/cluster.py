"""The soak's own services and processes: a private PostgreSQL cluster, Redis, a network
namespace for the "remote" worker, and the workers and scheduler (public commands only).

Every process is started in its own session, so a fault (and the final clean-up)
hits exactly the process group it names. ``Cluster.close`` ends everything this
module started, and removes the namespace and the temporary cluster.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETNS = "wfsoak"
VETH_HOST = "wfsoak-h"  # stays in the root namespace: its state is the partition switch
VETH_NS = "wfsoak-n"
HOST_ADDR = "10.231.0.1"
NS_ADDR = "10.231.0.2"
QUEUE = "workflows"


def _run(argv: list[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except OSError as exc:  # e.g. no `ip` binary
        return subprocess.CompletedProcess(argv, 127, "", str(exc))


def _must(argv: list[str], *, timeout: float = 60) -> str:
    done = _run(argv, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def postgres_bindir() -> Path:
    """The newest PostgreSQL server binaries: /usr/lib/postgresql/*/bin, else PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(v) if (v := Path(p).parent.parent.name).isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin")


@dataclass
class Proc:
    """One named role (w1, scheduler, ...) and its current incarnation."""

    name: str
    argv: list[str]
    env: dict[str, str]
    netns: bool = False
    incarnation: int = 0
    popen: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    stopped: bool = False  # SIGSTOPped right now
    expected_down: bool = False  # the nemesis is killing / restarting it
    history: list[tuple[str, float, float | None]] = field(default_factory=list)

    @property
    def tag(self) -> str:
        """What its step bodies write in the ledger's ``proc`` column."""
        return f"{self.name}.{self.incarnation}"

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


class Cluster:
    """Services and processes of one soak run, all private to it."""

    def __init__(
        self,
        *,
        workdir: Path,
        out: Path,
        pg_port: int,
        redis_port: int,
        lease_seconds: int,
        log: Callable[[str], None],
    ) -> None:
        self.workdir = workdir
        self.out = out
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pg_port = pg_port
        self.redis_port = redis_port
        self.lease_seconds = lease_seconds
        self.log = log
        self.ledger = out / "ledger.txt"
        self.bindir = postgres_bindir()
        self.pgdata = workdir / "pgdata"
        self.pglog = workdir / "pglog" / "postgres.log"
        # initdb and postgres refuse to run as root.
        root = os.geteuid() == 0
        self.as_postgres: list[str] = ["runuser", "-u", "postgres", "--"] if root else []
        self.netns_error: str | None = "not set up"
        self.secret_key = secrets.token_urlsafe(50)
        self.redis: subprocess.Popen[bytes] | None = None
        self.procs: dict[str, Proc] = {}
        self._lock = threading.Lock()
        self._closing = False
        self._pg_started = False
        self._netns_created = False

    # --- network namespace ----------------------------------------------------

    def setup_netns(self) -> str | None:
        """Create the namespace and a veth pair; None on success, else the exact error."""
        self._drop_netns()  # a leftover of an interrupted earlier run has our names
        try:
            _must(["ip", "netns", "add", NETNS])
            self._netns_created = True
            _must(["ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS])
            _must(["ip", "link", "set", VETH_NS, "netns", NETNS])
            _must(["ip", "addr", "add", f"{HOST_ADDR}/30", "dev", VETH_HOST])
            _must(["ip", "link", "set", VETH_HOST, "up"])
            ns = ["ip", "netns", "exec", NETNS]
            _must([*ns, "ip", "addr", "add", f"{NS_ADDR}/30", "dev", VETH_NS])
            _must([*ns, "ip", "link", "set", VETH_NS, "up"])
            _must([*ns, "ip", "link", "set", "lo", "up"])
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            self._drop_netns()
            self.netns_error = str(exc)
            return self.netns_error
        self.netns_error = None
        return None

    def _drop_netns(self) -> None:
        _run(["ip", "link", "del", VETH_HOST])
        _run(["ip", "netns", "del", NETNS])
        self._netns_created = False

    def partition(self, cut: bool) -> None:
        """Cut (or restore) the namespaced worker's only link to PostgreSQL and Redis."""
        _must(["ip", "link", "set", VETH_HOST, "down" if cut else "up"])

    @property
    def addresses(self) -> list[str]:
        return ["127.0.0.1"] + ([HOST_ADDR] if self.netns_error is None else [])

    # --- PostgreSQL -------------------------------------------------------------

    def _pg(self, tool: str, *args: str, timeout: float = 120) -> str:
        return _must([*self.as_postgres, str(self.bindir / tool), *args], timeout=timeout)

    def start_postgres(self) -> None:
        self.workdir.chmod(0o755)
        self.pgdata.mkdir()
        self.pglog.parent.mkdir()
        if self.as_postgres:
            for path in (self.pgdata, self.pglog.parent):
                shutil.chown(path, "postgres", "postgres")
        self._pg(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.pg_port}\n"
                f"listen_addresses = '{','.join(self.addresses)}'\n"
                f"unix_socket_directories = '{self.pglog.parent}'\n"
                # Commit times of journal rows: "entered after its success was committed".
                "track_commit_timestamp = on\n"
                "fsync = off\nfull_page_writes = off\n"
                "max_connections = 200\nshared_buffers = 64MB\n"
                "log_min_messages = warning\n"
            )
        (self.pgdata / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all all 127.0.0.1/32 trust\n"
            f"host all all {HOST_ADDR}/30 trust\n"
        )
        self._pg_ctl("start")
        self._pg_started = True
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE soak")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        argv = [
            *self.as_postgres,
            str(self.bindir / "pg_ctl"),
            action,
            "-D",
            str(self.pgdata),
            "-l",
            str(self.pglog),
            "-w",
            "-t",
            "60",
            *extra,
        ]
        # Its own session: a Ctrl-C in the terminal must not reach the postmaster.
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=120, start_new_session=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {action} failed: {done.stderr.strip() or done.stdout}")

    def restart_postgres(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    @property
    def admin_url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.pg_port}/postgres"

    def database_url(self, proc: str, *, netns: bool = False) -> str:
        host = HOST_ADDR if netns else "127.0.0.1"
        return f"postgres://postgres@{host}:{self.pg_port}/soak?application_name=soak-{proc}"

    # --- Redis ---------------------------------------------------------------------

    def broker_url(self, *, netns: bool = False) -> str:
        return f"redis://{HOST_ADDR if netns else '127.0.0.1'}:{self.redis_port}/0"

    def start_redis(self) -> None:
        with self._lock:
            if self._closing:
                return
            out = open(self.logs / "redis.log", "ab")  # noqa: SIM115 - owned by the child
            self.redis = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.redis_port),
                    "--bind",
                    *self.addresses,
                    "--protected-mode",
                    "no",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            out.close()
        import redis

        client = redis.Redis(port=self.redis_port, socket_timeout=1)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start; see logs/redis.log") from None
                time.sleep(0.05)

    def kill_redis(self) -> None:
        if self.redis is not None and self.redis.poll() is None:
            os.killpg(self.redis.pid, signal.SIGKILL)
            self.redis.wait(timeout=10)

    # --- workers and scheduler -----------------------------------------------------

    def base_env(self, name: str, *, netns: bool = False) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("WORKFLOWS_", "CELERY_", "WFSOAK_"))
            and key not in ("DATABASE_URL", "WORKFLOW_MODULES", "DJANGO_SETTINGS_MODULE")
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "project.settings",
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
                "DATABASE_URL": self.database_url(name, netns=netns),
                "CELERY_BROKER_URL": self.broker_url(netns=netns),
                "WORKFLOWS_DISPATCHER": "workflows_app.tasks.CeleryDispatcher",
                "WORKFLOW_MODULES": "soak.workflows",
                "WORKFLOWS_DEMO": "0",
                "WORKFLOWS_LEASE_SECONDS": str(self.lease_seconds),
                "WFSOAK_LEDGER": str(self.ledger),
                "LOG_LEVEL": "INFO",
                "DJANGO_DEBUG": "0",
                "DJANGO_SECRET_KEY": self.secret_key,
            }
        )
        return env

    def add_worker(
        self, name: str, *, concurrency: int = 2, netns: bool = False, **env: str
    ) -> Proc:
        argv = [
            sys.executable,
            str(ROOT / "manage.py"),
            "workflows_worker",
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{name}@soak",
        ]
        if netns:
            argv = ["ip", "netns", "exec", NETNS, *argv]
        proc = Proc(name, argv, {**self.base_env(name, netns=netns), **env}, netns=netns)
        self.procs[name] = proc
        return proc

    def add_scheduler(self, name: str = "scheduler", **env: str) -> Proc:
        argv = [sys.executable, str(ROOT / "soak" / "launch.py"), "workflows_scheduler"]
        proc = Proc(name, argv, {**self.base_env(name), **env})
        self.procs[name] = proc
        return proc

    def start(self, proc: Proc, *, wait: bool = True) -> None:
        with self._lock:
            if self._closing:
                return
            proc.incarnation += 1
            proc.log = self.logs / f"{proc.tag}.log"
            env = {**proc.env, "WFSOAK_PROC": proc.tag}
            with open(proc.log, "wb") as out:
                proc.popen = subprocess.Popen(
                    proc.argv,
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: faults hit only it
                )
            proc.stopped = False
            proc.history.append((proc.tag, time.time(), None))
        if wait:
            self.wait_ready(proc)

    def wait_ready(self, proc: Proc, timeout: float = 120) -> None:
        marker = "ready." if "workflows_worker" in proc.argv else "scheduler started"
        deadline = time.monotonic() + timeout
        while proc.log is not None and marker not in proc.log.read_text(errors="replace"):
            if not proc.alive():
                raise RuntimeError(f"{proc.tag} exited at start; see {proc.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.tag} not ready after {timeout:.0f}s; see {proc.log}")
            time.sleep(0.2)

    def signal(self, proc: Proc, signum: int) -> None:
        if proc.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.popen.pid, signum)
        if signum == signal.SIGSTOP:
            proc.stopped = True
        elif signum == signal.SIGCONT:
            proc.stopped = False

    def kill(self, proc: Proc) -> None:
        """kill -9 of the whole process group (the Celery parent and its pool children)."""
        if proc.popen is None:
            return
        self.signal(proc, signal.SIGKILL)
        self.signal(proc, signal.SIGCONT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(timeout=15)
        self._ended(proc)

    def stop(self, proc: Proc, *, grace: float = 10) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds."""
        if proc.popen is None or proc.popen.poll() is not None:
            self._ended(proc)
            return
        self.signal(proc, signal.SIGTERM)
        try:
            proc.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.log(f"{proc.tag} ignored SIGTERM for {grace:.0f}s: SIGKILL")
        self.kill(proc)

    def _ended(self, proc: Proc) -> None:
        if proc.history and proc.history[-1][2] is None:
            tag, started, _ = proc.history[-1]
            proc.history[-1] = (tag, started, time.time())

    def queue_length(self) -> int | None:
        import redis

        try:
            client = redis.Redis(port=self.redis_port, socket_timeout=1, socket_connect_timeout=1)
            return int(client.llen(QUEUE))  # type: ignore[arg-type]
        except redis.RedisError:
            return None

    # --- the end --------------------------------------------------------------------

    def close(self, *, keep: bool = False) -> None:
        """End every process this run started, then the services, the namespace, the cluster."""
        with self._lock:
            self._closing = True
        for proc in self.procs.values():
            if proc.popen is not None and proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGCONT)
                    os.killpg(proc.popen.pid, signal.SIGKILL)
        for proc in self.procs.values():
            if proc.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.popen.wait(timeout=10)
                self._ended(proc)
        if self.redis is not None and self.redis.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.redis.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.redis.wait(timeout=10)
        if self._pg_started:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._pg_ctl("stop", "-m", "immediate")
            self._kill_postmaster()
        if self.pglog.exists():
            with contextlib.suppress(OSError):
                shutil.copy(self.pglog, self.logs / "postgres.log")
        if self._netns_created or self.netns_error is None:
            self._drop_netns()
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        pidfile = self.pgdata / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pidfile.read_text().split()[0])
            if Path(f"/proc/{pid}/comm").read_text().strip() == "postgres":
                os.kill(pid, signal.SIGKILL)
