"""The nemesis soak: ``make soak`` (or ``python -m soak.run --help``).

Starts a private PostgreSQL cluster and Redis, 3 workers (one in its own
network namespace, when ``ip netns`` works) and a scheduler, drives a few
hundred instances of the workflows in ``soak/workflows.py`` while the nemesis
(``soak/nemesis.py``) injects faults, then checks the invariants
(``soak/checks.py``), prints a table, and exits 1 if one broke (2 if the
harness itself failed). Everything it started is ended, even on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from soak import ledger  # noqa: E402
from soak.cluster import Cluster  # noqa: E402
from soak.nemesis import KINDS, Nemesis  # noqa: E402

PRESETS = {
    # instances, seconds of load and faults, seconds allowed to drain
    "short": (50, 100, 60),
    "default": (200, 180, 180),
    "long": (600, 900, 300),
}


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--short", action="store_true", help="CI size: 50 instances, ~3 minutes")
    size.add_argument("--long", action="store_true", help="600 instances, 15 minutes of faults")
    parser.add_argument("--instances", type=int, help="instances to create (default 200)")
    parser.add_argument("--duration", type=float, help="seconds of load and faults (default 180)")
    parser.add_argument("--drain", type=float, help="seconds allowed to finish afterwards")
    parser.add_argument("--seed", type=int, default=None, help="random seed (printed)")
    parser.add_argument("--lease", type=int, default=5, help="WORKFLOWS_LEASE_SECONDS")
    parser.add_argument("--concurrency", type=int, default=2, help="per loopback worker")
    parser.add_argument(
        "--faults",
        default=",".join(KINDS),
        help=f"comma-separated fault kinds (default: all of {','.join(KINDS)}); 'none' for none",
    )
    parser.add_argument("--pg-port", type=int, default=5441)
    parser.add_argument("--redis-port", type=int, default=6406)
    parser.add_argument("--out", default=None, help="report directory (default var/soak/<time>)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary cluster")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="append one forged ledger line (a completed step entered again after its commit) "
        "before checking: the run must then fail on that invariant",
    )
    args = parser.parse_args(argv)
    preset = PRESETS["short" if args.short else "long" if args.long else "default"]
    args.instances = args.instances or preset[0]
    args.duration = args.duration or preset[1]
    args.drain = args.drain or preset[2]
    args.seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    args.kinds = [] if args.faults == "none" else [k for k in args.faults.split(",") if k]
    unknown = set(args.kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown fault kinds: {', '.join(sorted(unknown))}")
    return args


# --- what the driver plans and does ---------------------------------------------------


@dataclass
class Planned:
    iid: str
    workflow: str
    at: float  # seconds after the start of the load
    params: dict[str, Any]
    gate: str | None = None  # early | ontime | late | none
    outcome: str | None = None  # approve | reject
    compete: bool = False  # an API event of the decision type right before the decision
    created: bool = False
    deadline: float | None = None  # the gate's deadline as recorded (engine clock)
    sent: list[dict[str, Any]] = field(default_factory=list)
    decided: dict[str, Any] | None = None


def plan(args: argparse.Namespace, rng: random.Random) -> list[Planned]:
    window = args.duration * 0.85
    planned = []
    for n in range(args.instances):
        at = rng.uniform(0, window)
        roll = rng.random()
        if roll < 0.25:
            planned.append(
                Planned(
                    f"a-{n:04d}",
                    "soak-approval",
                    at,
                    {"decide_ms": 60_000},
                    outcome=rng.choice(["approve", "reject"]),
                    compete=rng.random() < 0.3,
                )
            )
            continue
        workflow = "soak-chain" if roll < 0.65 else "soak-fanout"
        params = {
            "flaky": rng.random() < 0.25,
            "nap_ms": rng.randint(1000, 3000),
            "b_seconds": round(rng.uniform(0.3, 2.5), 2),
            "gate_ms": 6000,
        }
        gate = rng.choices(["early", "ontime", "late", "none"], [25, 30, 20, 25])[0]
        planned.append(Planned(f"{workflow[5]}-{n:04d}", workflow, at, params, gate=gate))
    return sorted(planned, key=lambda p: p.at)


# Set by Ctrl-C / SIGTERM. psycopg turns a KeyboardInterrupt during a query into a
# cancelled query (an OperationalError), which with_db would retry: it checks this first.
INTERRUPTED = threading.Event()


def with_db[T](fn: Callable[[], T], *, tries: int = 120) -> T:
    """Run a database call, riding out the soak's own PostgreSQL restarts."""
    from django.db import InterfaceError, OperationalError, connections

    for attempt in range(tries):
        if INTERRUPTED.is_set():
            raise KeyboardInterrupt
        try:
            return fn()
        except (OperationalError, InterfaceError):
            if INTERRUPTED.is_set():
                raise KeyboardInterrupt from None
            if attempt == tries - 1:
                raise
            connections.close_all()
            time.sleep(0.5)
    raise AssertionError("unreachable")


class Driver:
    def __init__(
        self, *, account: Any, planned: list[Planned], cluster: Cluster, log: Callable[[str], None]
    ) -> None:
        from workflows_app.sdk import get_workflow

        self.account = account
        self.planned = planned
        self.by_id = {p.iid: p for p in planned}
        self.cluster = cluster
        self.log = log
        self.bindings = {
            name: get_workflow(name, account=account)
            for name in ("soak-chain", "soak-fanout", "soak-approval")
        }
        self.queue_peak: int | None = None
        # (time, Redis LLEN, unfinished instances): the queue is bounded by the due work.
        self.queue_samples: list[tuple[float, int, int]] = []
        self._last_sample = 0.0
        self._next = 0  # index of the next instance to create

    # --- actions ---------------------------------------------------------------------

    def create(self, p: Planned) -> None:
        from workflows_app.sdk import InstanceAlreadyExistsError

        def go() -> None:
            # InstanceAlreadyExistsError: our earlier try committed, its answer was lost
            with contextlib.suppress(InstanceAlreadyExistsError):
                self.bindings[p.workflow].create(id=p.iid, params=p.params)

        with_db(go)
        p.created = True
        if p.gate == "early":
            self.send(p, "go", {"plan": "early"})

    def send(self, p: Planned, event_type: str, payload: dict[str, Any]) -> None:
        from workflows_app.sdk import WorkflowError

        token = uuid.uuid4().hex
        record: dict[str, Any] = {"token": token, "type": event_type, "t": time.time()}
        try:
            with_db(
                lambda: (
                    self.bindings[p.workflow]
                    .get(p.iid)
                    .send_event(type=event_type, payload={**payload, "token": token})
                )
            )
            record["ok"] = True
        except WorkflowError as exc:  # e.g. the instance already finished
            record.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        p.sent.append(record)

    def decide(self, step: Any, p: Planned) -> None:
        from workflows_app import services
        from workflows_app.sdk import WorkflowError

        if p.compete:
            other = "reject" if p.outcome == "approve" else "approve"
            self.send(p, "review-decision", {"decision": other, "by": "api-bot"})
        by = f"approver-{p.iid}"
        try:
            with_db(
                lambda: services.approval_decide(
                    step=step, outcome=p.outcome or "approve", comment="soak", by=by
                )
            )
            p.decided = {"result": "ok", "outcome": p.outcome, "by": by, "t": time.time()}
        except WorkflowError as exc:
            p.decided = {"result": type(exc).__name__, "message": str(exc), "t": time.time()}

    # --- the loop ------------------------------------------------------------------------

    def tick(self, elapsed: float) -> None:
        while self._next < len(self.planned) and self.planned[self._next].at <= elapsed:
            self.create(self.planned[self._next])
            self._next += 1
        self.answer_waits()
        now = time.time()
        if now - self._last_sample >= 1:
            self._last_sample = now
            length = self.cluster.queue_length()
            if length is not None:
                self.queue_peak = max(self.queue_peak or 0, length)
                self.queue_samples.append((now, length, self.unfinished()))

    def answer_waits(self) -> None:
        from workflows_app import selectors
        from workflows_app.models import StepType

        waiting = with_db(
            lambda: list(
                selectors.pending_approvals(account=self.account).filter(
                    type=StepType.WAIT_FOR_EVENT
                )
            )
        )
        now = time.time()
        for step in waiting:
            p = self.by_id.get(step.instance.instance_id)
            if p is None:
                continue
            if step.name == "decide" and p.decided is None:
                self.decide(step, p)
            elif step.name == "gate" and p.gate in ("ontime", "late") and p.deadline is None:
                timeout = float((step.detail or {}).get("timeout_ms", 0)) / 1000
                p.deadline = step.started_at.timestamp() + timeout
                if p.gate == "ontime":
                    self.send(p, "go", {"plan": "ontime"})
        for p in self.planned:
            if p.gate == "late" and p.deadline is not None and not p.sent and now > p.deadline + 2:
                self.send(p, "go", {"plan": "late"})

    def unfinished(self) -> int:
        from workflows_app.models import Instance

        return with_db(
            lambda: (
                Instance.objects.filter(account=self.account)
                .exclude(status__in=("complete", "errored", "terminated"))
                .count()
            )
        )

    def all_created(self) -> bool:
        return self._next >= len(self.planned)


# --- the run ----------------------------------------------------------------------------


def setup_django(cluster: Cluster) -> None:
    env = cluster.base_env("driver")
    for key in (
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "WORKFLOWS_DISPATCHER",
        "WORKFLOW_MODULES",
        "WORKFLOWS_DEMO",
        "WORKFLOWS_LEASE_SECONDS",
        "DJANGO_SECRET_KEY",
        "DJANGO_DEBUG",
        "DJANGO_SETTINGS_MODULE",
    ):
        os.environ[key] = env[key]
    import django

    django.setup()
    # The driver's own log lines (e.g. "could not ring doorbells" while Redis is down)
    # go to logs/driver.log, not over the soak's report.
    import logging

    to_file = logging.FileHandler(cluster.logs / "driver.log")
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger()] + [
        x for x in logging.Logger.manager.loggerDict.values() if isinstance(x, logging.Logger)
    ]
    for logger in loggers:
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
                if to_file not in logger.handlers:
                    logger.addHandler(to_file)
    if not logging.getLogger().handlers:
        logging.getLogger().addHandler(to_file)


def migrate(cluster: Cluster) -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=cluster.base_env("migrate"),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed: {done.stderr[-2000:]}")
    # A database cache table, if the settings use one (throttling); a no-op otherwise.
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "createcachetable"],
        cwd=ROOT,
        env=cluster.base_env("migrate"),
        capture_output=True,
        check=False,
    )


def forge(cluster: Cluster, log: Callable[[str], None]) -> None:
    """Self-check: re-enter a committed step in the ledger, as a duplicate execution would."""
    done = [line for line in ledger.read(cluster.ledger) if line.what == "exit"]
    if not done:
        return
    victim = done[0]
    with open(cluster.ledger, "a") as file:
        file.write(
            f"{victim.instance} {victim.step} {victim.attempt + 1} enter {os.getpid()} "
            f"{time.time():.6f} self-check\n"
        )
    log(f"self-check: forged a re-entry of {victim.instance} {victim.step} in the ledger")


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
    fmt = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    return "\n".join(
        [line, fmt.format(*header), line, *(fmt.format(*map(str, r)) for r in rows), line]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = dt.datetime.now(tz=dt.UTC).strftime("%Y%m%d-%H%M%S")
    outdir = Path(args.out) if args.out else ROOT / "var" / "soak" / stamp
    outdir.mkdir(parents=True, exist_ok=True)
    timeline = open(outdir / "timeline.txt", "a")  # noqa: SIM115 - closed in finally
    started = time.time()

    def log(text: str) -> None:
        stamp_line = f"[{time.time() - started:7.1f}s] {text}"
        out(stamp_line)
        timeline.write(stamp_line + "\n")
        timeline.flush()

    def terminate(signum: int, frame: Any) -> None:
        INTERRUPTED.set()
        raise KeyboardInterrupt

    # Explicitly (a background job starts with SIGINT ignored): Ctrl-C or a TERM stops the
    # run and cleans up; a second one during the clean-up is ignored so it can finish.
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    workdir = Path(tempfile.mkdtemp(prefix="wfsoak-"))
    cluster = Cluster(
        workdir=workdir,
        out=outdir,
        pg_port=args.pg_port,
        redis_port=args.redis_port,
        lease_seconds=args.lease,
        log=log,
    )
    stop = threading.Event()
    nemesis_thread: threading.Thread | None = None
    rc = 2
    try:
        log(
            f"soak: {args.instances} instances, {args.duration:.0f}s of faults "
            f"({','.join(args.kinds) or 'none'}), drain {args.drain:.0f}s, lease {args.lease}s, "
            f"seed {args.seed}; report in {outdir}"
        )
        error = cluster.setup_netns()
        log("network namespace: " + ("ready" if error is None else f"unavailable: {error}"))
        cluster.start_postgres()
        cluster.start_redis()
        log(
            f"PostgreSQL {cluster.bindir.parent.name} on :{args.pg_port}, Redis on "
            f":{args.redis_port} ({', '.join(cluster.addresses)})"
        )
        migrate(cluster)
        setup_django(cluster)
        from workflows_app.testing import make_account

        account = make_account(name="soak", plan="paid")
        workers = [cluster.add_worker(n, concurrency=args.concurrency) for n in ("w1", "w2")]
        workers.append(cluster.add_worker("wns", concurrency=1, netns=error is None))
        scheduler = cluster.add_scheduler()
        for proc in [*workers, scheduler]:
            cluster.start(proc, wait=False)
        for proc in [*workers, scheduler]:
            cluster.wait_ready(proc)
        log(
            "workers w1, w2, wns"
            + (" (in the namespace)" if error is None else "")
            + " and the scheduler are up"
        )

        rng = random.Random(args.seed)
        planned = plan(args, rng)
        driver = Driver(account=account, planned=planned, cluster=cluster, log=log)
        nemesis = Nemesis(
            cluster,
            rng=random.Random(args.seed + 1),
            kinds=args.kinds,
            stop=stop,
            log=log,
            gap=(1.5, 3.0) if args.short else (3.0, 8.0),
            skew_hold=8.0 if args.short else 15.0,
        )
        load_start = time.time()
        until = load_start + args.duration
        nemesis_thread = threading.Thread(target=nemesis.run, args=(until,), daemon=True)
        nemesis_thread.start()
        supervisor = threading.Thread(target=nemesis.supervise_loop, daemon=True)
        supervisor.start()
        last_note = 0.0
        while time.time() < until or not driver.all_created():
            driver.tick(time.time() - load_start)
            if time.time() - last_note > 30:
                last_note = time.time()
                log(
                    f"load: {driver._next}/{len(planned)} created, "
                    f"{driver.unfinished()} unfinished, queue peak {driver.queue_peak}"
                )
            time.sleep(0.25)
        log("load window over: waiting for the last fault to heal")
        while not nemesis.faults_done.wait(0.25):
            driver.tick(time.time() - load_start)
        drain_end = time.time() + args.drain
        log(f"draining (up to {args.drain:.0f}s)")
        while time.time() < drain_end:
            driver.tick(time.time() - load_start)
            late_pending = any(
                p.gate == "late" and p.deadline is not None and not p.sent for p in planned
            )
            if driver.unfinished() == 0 and not late_pending:
                break
            time.sleep(0.5)
        log(f"drained: {driver.unfinished()} unfinished")
        time.sleep(2)  # messages still in flight settle
        queue_left = cluster.queue_length()
        stop.set()
        nemesis_thread.join(timeout=60)
        supervisor.join(timeout=10)
        if args.self_check:
            forge(cluster, log)

        from soak import checks

        verdict = with_db(
            lambda: checks.evaluate(
                account=account,
                planned=planned,
                lines=ledger.read(cluster.ledger),
                faults=nemesis.faults,
                deaths=nemesis.deaths,
                queue_peak=driver.queue_peak,
                queue_samples=driver.queue_samples,
                queue_left=queue_left,
                lease_seconds=args.lease,
                logs_dir=cluster.logs,
            )
        )
        report(verdict, args, outdir, nemesis)
        rc = 1 if verdict.failed else 0
        if nemesis.errors:
            log("the nemesis itself failed (harness error): see above")
            rc = 2
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        rc = 130
    except Exception:
        log("harness error:\n" + traceback.format_exc())
        rc = 2
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop.set()
        cluster.close(keep=args.keep)
        if nemesis_thread is not None:
            nemesis_thread.join(timeout=5)
        log(f"cleaned up (exit {rc}); logs, ledger and report in {outdir}")
        timeline.close()
    return rc


def report(verdict: Any, args: argparse.Namespace, outdir: Path, nemesis: Nemesis) -> None:
    out()
    out(
        table(
            [
                [
                    r.name,
                    r.value,
                    r.expected,
                    "figure" if r.ok is None else ("ok" if r.ok else "BROKEN"),
                ]
                for r in verdict.rows
            ],
            ["check", "value", "expected", "verdict"],
        )
    )
    out()
    out("Recovery after each fault (takeover: until every body the fault interrupted ran again")
    out("or its result committed; first body: until any body started after the heal):")
    out(
        table(
            [
                [
                    r["fault"],
                    r["target"],
                    r.get("at", ""),
                    r.get("held_s", ""),
                    r.get("in_flight", ""),
                    r.get("takeover_s", ""),
                    r.get("first_body_after_heal_s", ""),
                    r.get("note") or ("skipped: " + r["skipped"] if r.get("skipped") else ""),
                ]
                for r in verdict.recovery
            ],
            [
                "fault",
                "target",
                "at (UTC)",
                "held s",
                "in flight",
                "takeover s",
                "first body s",
                "note",
            ],
        )
    )
    for name, lines in verdict.notes.items():
        if lines:
            out()
            out(f"{name}:")
            for line in lines:
                out(f"  {line}")
    for name, lines in verdict.evidence.items():
        out()
        out(f"BROKEN: {name}")
        for line in lines:
            out(f"  {line}")
    out()
    failed = [r.name for r in verdict.failed]
    out(("FAILED: " + "; ".join(failed)) if failed else "PASSED: every invariant held")
    out(
        f"command: python -m soak.run --instances {args.instances} --duration {args.duration:.0f} "
        f"--drain {args.drain:.0f} --lease {args.lease} --seed {args.seed} "
        f"--faults {','.join(args.kinds) or 'none'}" + (" --self-check" if args.self_check else "")
    )
    (outdir / "report.json").write_text(
        json.dumps(
            {
                "args": {k: v for k, v in vars(args).items() if k != "kinds"}
                | {"kinds": args.kinds},
                "rows": [vars(r) for r in verdict.rows],
                "recovery": verdict.recovery,
                "evidence": verdict.evidence,
                "notes": verdict.notes,
                "deaths": nemesis.deaths,
                "nemesis_errors": nemesis.errors,
            },
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
