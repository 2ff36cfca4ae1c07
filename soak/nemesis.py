"""The nemesis: injects one fault at a time, at random, and heals it.

| kind | what it does |
|---|---|
| kill-worker | kill -9 of a worker's whole process group while it runs a step body, restart it |
| kill-scheduler | kill -9 of the scheduler, restart it 3 s later |
| redis-restart | kill -9 of redis-server (no persistence: the queue is lost), start it 3 s later |
| pg-restart | ``pg_ctl restart -m fast`` of the soak's PostgreSQL (every connection is cut) |
| sigstop-worker | SIGSTOP a worker group mid-step for two leases + 2 s, then SIGCONT |
| skew-scheduler | a second scheduler whose engine clock is 4 leases ahead runs for a while |
| skew-worker | a third worker whose engine clock is 4 leases ahead runs a while, then kill -9 |
| partition | the namespaced worker's veth goes down mid-step for two leases + 2 s, then up |
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from soak import ledger
from soak.cluster import Cluster, Proc

KINDS = [
    "kill-worker",
    "kill-scheduler",
    "redis-restart",
    "pg-restart",
    "sigstop-worker",
    "skew-scheduler",
    "skew-worker",
    "partition",
]


@dataclass
class Fault:
    kind: str
    target: str
    t_inject: float
    t_heal: float | None = None
    note: str = ""
    skipped: str | None = None
    # Bodies the target was running when the fault hit: (instance, step, attempt).
    in_flight: list[tuple[str, str, int]] = field(default_factory=list)
    skew_seconds: float = 0.0


def last_error(proc: Proc) -> str:
    """The line of a dead process's log that says why: Celery's "Unrecoverable error",
    else the last line naming an error, else the last line."""
    if proc.log is None or not proc.log.exists():
        return "(no log)"
    lines = [x.strip() for x in proc.log.read_text(errors="replace").splitlines() if x.strip()]
    for marker in ("Unrecoverable error", "Error"):
        found = [x for x in lines if marker in x and not x.startswith("File ")]
        if found:
            return found[-1][:300]
    return (lines[-1] if lines else "(empty)")[:300]


class Nemesis:
    def __init__(
        self,
        cluster: Cluster,
        *,
        rng: random.Random,
        kinds: list[str],
        stop: threading.Event,
        log: Callable[[str], None],
        gap: tuple[float, float] = (3.0, 8.0),
        skew_hold: float = 15.0,
    ) -> None:
        self.skew_hold = skew_hold
        self.cluster = cluster
        self.rng = rng
        self.kinds = kinds
        self.stop = stop
        self.log = log
        self.gap = gap
        self.lease = cluster.lease_seconds
        self.faults: list[Fault] = []
        self.faults_done = threading.Event()
        self.proc_lock = threading.Lock()
        self.in_progress: str | None = None  # the fault being injected / held now
        self.errors: list[str] = []
        # Processes that exited on their own: (tag, exit code, seen at, after which fault).
        self.deaths: list[tuple[str, int | None, float, str]] = []

    # --- the loop -----------------------------------------------------------------

    def run(self, until: float) -> None:
        """Inject faults, a random kind at a time (each kind once per round; the first round
        always completes, so every kind happens at least once), until ``until``."""
        first_round = True
        try:
            while not self.stop.is_set() and (first_round or time.time() < until):
                cycle = list(self.kinds)
                self.rng.shuffle(cycle)
                for kind in cycle:
                    if self.stop.wait(self.rng.uniform(*self.gap)):
                        break
                    if not first_round and time.time() > until:
                        break
                    self.in_progress = kind
                    try:
                        self.inject(kind)
                    finally:
                        self.in_progress = None
                first_round = False
                if not self.kinds:
                    break
        except Exception:  # the harness failed, not the product: report it as such
            self.errors.append(traceback.format_exc())
            self.log("nemesis failed:\n" + self.errors[-1])
        finally:
            self.faults_done.set()

    def supervise_loop(self) -> None:
        """Every 0.5 s until ``stop``: restart a core process that died by itself."""
        try:
            while not self.stop.wait(0.5):
                self.supervise()
        except Exception:
            self.errors.append(traceback.format_exc())
            self.log("supervisor failed:\n" + self.errors[-1])

    def inject(self, kind: str) -> Fault:
        handler = getattr(self, "_" + kind.replace("-", "_"))
        fault: Fault = handler()
        self.faults.append(fault)
        if fault.skipped:
            self.log(f"fault {kind}: skipped: {fault.skipped}")
        else:
            held = (fault.t_heal or time.time()) - fault.t_inject
            self.log(
                f"fault {kind} on {fault.target}: {len(fault.in_flight)} body(ies) in flight, "
                f"healed after {held:.1f}s{'; ' + fault.note if fault.note else ''}"
            )
        return fault

    def supervise(self) -> None:
        """Restart a core process that exited by itself (as a supervisor would); record it."""
        for name in ("w1", "w2", "wns", "scheduler"):
            proc = self.cluster.procs.get(name)
            with self.proc_lock:
                if (
                    proc is None
                    or proc.popen is None
                    or proc.expected_down
                    or proc.alive()
                    or self.stop.is_set()
                ):
                    continue
                code = proc.popen.returncode
                why = last_error(proc)
                now = time.time()
                recent = [
                    f"{f.kind} {now - f.t_inject:.0f}s before"
                    for f in self.faults
                    if not f.skipped and now - f.t_inject < 60
                ]
                if self.in_progress:
                    recent.append(f"{self.in_progress} in progress")
                during = ", ".join(recent) or "no fault in the last 60s"
                self.deaths.append((proc.tag, code, time.time(), f"{during}; log: {why}"))
                self.log(f"{proc.tag} exited by itself (code {code}); faults: {during}; {why}")
                self.cluster.start(proc, wait=False)

    # --- helpers --------------------------------------------------------------------

    def _in_flight(self, proc: Proc, wait: float) -> list[tuple[str, str, int]]:
        """Wait (up to ``wait`` s) until ``proc`` runs a step body; what it runs now."""
        deadline = time.monotonic() + wait
        while True:
            running = ledger.open_bodies(ledger.read(self.cluster.ledger), proc.tag)
            if running or time.monotonic() > deadline or self.stop.is_set():
                return [(line.instance, line.step, line.attempt) for line in running]
            time.sleep(0.2)

    def _worker(self) -> Proc:
        return self.cluster.procs[self.rng.choice(["w1", "w2"])]

    def _hold(self, seconds: float) -> None:
        self.stop.wait(seconds)

    # --- the faults -------------------------------------------------------------------

    def _kill_worker(self) -> Fault:
        proc = self._worker()
        in_flight = self._in_flight(proc, 10)
        with self.proc_lock:
            proc.expected_down = True
            fault = Fault("kill-worker", proc.tag, time.time(), in_flight=in_flight)
            self.cluster.kill(proc)
            fault.t_heal = time.time()
            self.cluster.start(proc, wait=False)
            proc.expected_down = False
        fault.note = f"restarted as {proc.tag}"
        return fault

    def _kill_scheduler(self) -> Fault:
        proc = self.cluster.procs["scheduler"]
        with self.proc_lock:
            proc.expected_down = True
            fault = Fault("kill-scheduler", proc.tag, time.time())
            self.cluster.kill(proc)
        self._hold(3)
        with self.proc_lock:
            fault.t_heal = time.time()
            self.cluster.start(proc, wait=False)
            proc.expected_down = False
        return fault

    def _redis_restart(self) -> Fault:
        fault = Fault("redis-restart", "redis", time.time())
        self.cluster.kill_redis()
        self._hold(3)
        self.cluster.start_redis()
        fault.t_heal = time.time()
        return fault

    def _pg_restart(self) -> Fault:
        fault = Fault("pg-restart", "postgresql", time.time())
        self.cluster.restart_postgres()
        fault.t_heal = time.time()
        return fault

    def _sigstop_worker(self) -> Fault:
        import signal

        proc = self._worker()
        in_flight = self._in_flight(proc, 10)
        fault = Fault("sigstop-worker", proc.tag, time.time(), in_flight=in_flight)
        self.cluster.signal(proc, signal.SIGSTOP)
        self._hold(2 * self.lease + 2)
        self.cluster.signal(proc, signal.SIGCONT)
        fault.t_heal = time.time()
        fault.note = f"stopped {2 * self.lease + 2}s (lease {self.lease}s)"
        return fault

    def _skew_scheduler(self) -> Fault:
        skew = 4.0 * self.lease
        proc = self.cluster.procs.get("scheduler-skewed") or self.cluster.add_scheduler(
            "scheduler-skewed", WFSOAK_CLOCK_SKEW_SECONDS=str(skew)
        )
        self.cluster.start(proc)
        fault = Fault("skew-scheduler", proc.tag, time.time(), skew_seconds=skew)
        self._hold(self.skew_hold)
        self.cluster.stop(proc)
        fault.t_heal = time.time()
        fault.note = f"a second scheduler {skew:+.0f}s ahead for {self.skew_hold:.0f}s"
        return fault

    def _skew_worker(self) -> Fault:
        skew = 4.0 * self.lease
        proc = self.cluster.procs.get("w-skewed") or self.cluster.add_worker(
            "w-skewed", concurrency=1, WFSOAK_CLOCK_SKEW_SECONDS=str(skew)
        )
        self.cluster.start(proc)
        fault = Fault("skew-worker", proc.tag, time.time(), skew_seconds=skew)
        self._hold(self.skew_hold)
        # kill -9, not SIGTERM: a graceful stop may wait for a step (and is a fault of its own)
        self.cluster.kill(proc)
        fault.t_heal = time.time()
        fault.note = f"a third worker {skew:+.0f}s ahead for {self.skew_hold:.0f}s, then killed"
        return fault

    def _partition(self) -> Fault:
        if self.cluster.netns_error is not None:
            return Fault("partition", "wns", time.time(), skipped=self.cluster.netns_error)
        proc = self.cluster.procs["wns"]
        in_flight = self._in_flight(proc, 15)
        fault = Fault("partition", proc.tag, time.time(), in_flight=in_flight)
        self.cluster.partition(cut=True)
        hold = 2 * self.lease + 2
        self._hold(hold)
        self.cluster.partition(cut=False)
        fault.t_heal = time.time()
        fault.note = f"cut {hold}s" + ("" if in_flight else " (no body was in flight)")
        return fault
